"""Amazon SNS: topics, subscriptions and real, signed, retried delivery (HTTP/HTTPS, email, email-json)."""
