"""Run every benchmark and print its figures."""

from bench import agent_bench, imports

if __name__ == "__main__":
    imports.main()
    print()
    agent_bench.main()
