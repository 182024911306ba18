"""The analytics API (issue 9): named, validated, cached operations over the warehouse marts, plus async jobs."""
