"""The cost model: ``mtx cost``, from published AWS prices (``aws_prices.json``)."""
