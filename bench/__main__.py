"""Run every benchmark and print its figures."""

from bench import agent_bench, deploy_bench, imports, mcp_bench

if __name__ == "__main__":
    imports.main()
    print()
    agent_bench.main()
    print()
    mcp_bench.main()
    print()
    deploy_bench.main()
