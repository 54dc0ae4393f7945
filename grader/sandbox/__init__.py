"""Running untrusted student code: the sandboxed child, its launch, isolation and wire."""
