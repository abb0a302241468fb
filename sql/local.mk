dist_pkgdata_DATA = sql/schema.sql
