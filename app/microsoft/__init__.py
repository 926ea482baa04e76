"""Microsoft, the provider: its identity platform, Graph, OneDrive and Exchange Online. No views;
the connect area reaches it only through the `Provider` protocol."""
