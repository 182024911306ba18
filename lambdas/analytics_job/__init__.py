"""analytics_job Lambda: RunAnalyticsQuery of the analytics_job workflow."""
