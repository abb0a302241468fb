# tests/backend
