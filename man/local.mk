# man
dist_man_MANS += man/weft-proxy.8
# The settings file of the systemd units, and the units themselves.
dist_man_MANS += man/weft-env.5 man/weft-units.7
# Every page is clean under mandoc -T lint -W warning.
MAN_TESTS = tests/e2e/man_lint.sh
EXTRA_DIST += $(MAN_TESTS)
TESTS += $(MAN_TESTS)
