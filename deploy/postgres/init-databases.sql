-- Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d):
-- one database per service, each owning its schema (Alembic migrations of the service).
CREATE DATABASE approval;
CREATE DATABASE supervision;
CREATE DATABASE notify;
