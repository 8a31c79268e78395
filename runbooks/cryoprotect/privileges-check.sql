-- Privileges check: can the connected role run the remediation scripts?
-- A superuser can. Otherwise the role must own every table and sequence in
-- schema public (renaming a table, changing its constraints, policies and
-- row-level security all need ownership), be allowed to create objects in
-- public (the new table and the indexes), and, while service_role does not
-- exist yet, hold CREATEROLE so phase 1 can create it.
-- Read-only. Each query returns one row per problem and nothing when all is well.

select format('role %s is not a superuser and does not own %s %s', current_user,
              case c.relkind when 'S' then 'sequence' else 'table' end, c.relname) as problem
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'S')
  and not (select rolsuper from pg_roles where rolname = current_user)
  and not pg_has_role(current_user, c.relowner, 'USAGE')
order by c.relname;

select format('role %s may not create objects in schema public', current_user) as problem
where not has_schema_privilege(current_user, 'public', 'CREATE');

select format('role service_role does not exist and role %s may not create roles', current_user) as problem
where not exists (select 1 from pg_roles where rolname = 'service_role')
  and not exists (select 1 from pg_roles where rolname = current_user and (rolsuper or rolcreaterole));

select format('role %s may not connect to database %s', current_user, current_database()) as problem
where not has_database_privilege(current_user, current_database(), 'CONNECT');
