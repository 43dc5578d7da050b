"""Onboarding intelligence: scan a repo, generate the files that deploy it.

Heavy SDKs (githubkit, anthropic) are imported only inside the functions that call
them, so importing this package stays cheap for Lambdas that only scan.
"""
