"""The message service: queues, topics, subscriptions, fan-out and push delivery."""
