-- One-time Snowflake account set-up for the MovieLens warehouse (`make prod-setup` prints it
-- with your settings filled in). Run it as ACCOUNTADMIN (or a role with CREATE INTEGRATION,
-- CREATE ROLE, CREATE WAREHOUSE and CREATE DATABASE). Least privilege:
--   ${SNOWFLAKE_ROLE}  reads RAW, owns nothing there but the load objects it creates, and
--                      writes only ANALYTICS.
-- Placeholders (dollar-brace names) are filled from the environment by python -m scripts prod-check --setup-sql.

use role accountadmin;

-- Compute for loading and transforming: small, auto-suspending.
create warehouse if not exists ${SNOWFLAKE_WAREHOUSE}
    warehouse_size = xsmall auto_suspend = 60 auto_resume = true initially_suspended = true;

create database if not exists ${SNOWFLAKE_RAW_DATABASE};
create schema if not exists ${SNOWFLAKE_RAW_DATABASE}.${SNOWFLAKE_RAW_SCHEMA};
create database if not exists ${SNOWFLAKE_DATABASE};

-- S3 access without keys: an IAM role that Snowflake assumes. After creating it, run
-- `describe integration ${SNOWFLAKE_STORAGE_INTEGRATION}` and put STORAGE_AWS_IAM_USER_ARN and
-- STORAGE_AWS_EXTERNAL_ID into the IAM role's trust policy.
create storage integration if not exists ${SNOWFLAKE_STORAGE_INTEGRATION}
    type = external_stage
    storage_provider = 's3'
    enabled = true
    storage_aws_role_arn = '${SNOWFLAKE_STORAGE_AWS_ROLE_ARN}'
    storage_allowed_locations = ('s3://${S3_BUCKET}/${S3_PREFIX}/');

create role if not exists ${SNOWFLAKE_ROLE};
grant role ${SNOWFLAKE_ROLE} to user ${SNOWFLAKE_USER};
-- Key-pair sign-in for that user (Snowflake is blocking single-factor passwords): generate the key
-- pair as in README "Snowflake", then, with the public key's base64 body:
--   alter user ${SNOWFLAKE_USER} set rsa_public_key = '<MIIBIjANBgkqh...>';

grant usage on warehouse ${SNOWFLAKE_WAREHOUSE} to role ${SNOWFLAKE_ROLE};
grant usage on integration ${SNOWFLAKE_STORAGE_INTEGRATION} to role ${SNOWFLAKE_ROLE};

-- RAW: the role loads raw tables (stage, file format, tables, COPY) in the raw schema only. It
-- owns what it creates there, so it needs no grant on those objects, and the schema is created
-- above: `create schema if not exists` would need CREATE SCHEMA on the database even when the
-- schema exists. tests/test_snowflake_prod.py checks every statement of `make prod` against these
-- grants, both ways (nothing missing, nothing unused).
grant usage on database ${SNOWFLAKE_RAW_DATABASE} to role ${SNOWFLAKE_ROLE};
grant usage, create table, create stage, create file format
    on schema ${SNOWFLAKE_RAW_DATABASE}.${SNOWFLAKE_RAW_SCHEMA} to role ${SNOWFLAKE_ROLE};

-- ANALYTICS: dbt creates its schemas (staging, core, analytics, seeds, snapshots) here.
grant usage, create schema on database ${SNOWFLAKE_DATABASE} to role ${SNOWFLAKE_ROLE};
