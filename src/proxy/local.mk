# src/proxy
