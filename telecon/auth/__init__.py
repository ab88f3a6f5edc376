"""Staff login: argon2 passwords, bearer tokens, throttling of failed attempts."""
