"""Run every benchmark and print its figures."""

from bench import imports

if __name__ == "__main__":
    imports.main()
