"""The test suite as a package, so that its helpers import as tests.<folder>.<module> ahead of
any third-party top-level ``tests`` package in site-packages."""
