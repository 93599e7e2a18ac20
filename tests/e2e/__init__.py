"""End-to-end tests that open the run's HTML reports in headless Chromium."""
