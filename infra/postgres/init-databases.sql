-- One PostgreSQL server per region; one database per service (each service owns its store).
CREATE DATABASE marriage;
CREATE DATABASE disability;
CREATE DATABASE relief;
