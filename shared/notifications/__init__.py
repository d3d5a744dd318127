"""Push notifications: device tokens, area subscriptions, the notifier and its tasks."""
