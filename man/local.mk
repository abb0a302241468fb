# man
dist_man_MANS += man/weft-proxy.8
