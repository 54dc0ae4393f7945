"""The API course authors write public checks and hidden tests with."""
