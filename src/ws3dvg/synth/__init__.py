"""The embedded default: a synthetic ScanNet written in ScanNet's and ScanRefer's real formats."""
