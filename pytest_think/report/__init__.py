"""Reports: terminal summary (and, later, Allure, compare pages)."""
