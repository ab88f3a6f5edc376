"""The staff web pages: sign-in, the coach's and the specialist's home pages."""
