-- A small HR API: every function in schema hr_api becomes a WAMP procedure under
-- com.example.hr (see config/postgres.toml). Run after the bridge installed schema `wamp`
-- (or after pgsql/install.sql):  psql -h 127.0.0.1 -U postgres -d test -f pgsql/demo.sql

drop schema if exists hr cascade;
drop schema if exists hr_api cascade;

-- Data, not exposed.
create schema hr;
create table hr.employee (
    id         serial primary key,
    name       text not null,
    email      text not null unique,
    salary     numeric(12, 2) not null check (salary > 0),
    hired      date not null default current_date,
    manager_id int references hr.employee (id)
);
insert into hr.employee (name, email, salary, hired, manager_id) values
    ('Ada Lovelace', 'ada@example.com', 9500.00, '2015-12-10', null),
    ('Charles Babbage', 'charles@example.com', 8700.00, '2016-03-01', 1),
    ('Grace Hopper', 'grace@example.com', 9100.50, '2018-07-15', 1);

-- The API.
create schema hr_api;

-- com.example.hr.get_employee(id) -> {id, name, email, salary, hired, manager_id}
create function hr_api.get_employee(id int) returns hr.employee
language plpgsql stable as $$
declare e hr.employee;
begin
    select * into e from hr.employee where employee.id = get_employee.id;
    if not found then
        raise exception 'com.example.hr.error.not_found: employee % not found', id;
    end if;
    return e;
end
$$;

-- com.example.hr.list_employees(min_salary = 0) -> [{id, name, salary}, ...] (streams with receive_progress)
create function hr_api.list_employees(min_salary numeric default 0)
returns table (id int, name text, salary numeric)
language sql stable as $$
    select id, name, salary from hr.employee where salary >= min_salary order by id
$$;

-- com.example.hr.headcount() -> integer
create function hr_api.headcount() returns bigint language sql stable as $$ select count(*) from hr.employee $$;

-- com.example.hr.hire(name, email, salary, manager_id = null) -> id
-- Publishes com.example.hr.on_hire when (and only if) the hire commits.
create function hr_api.hire(name text, email text, salary numeric, manager_id int default null) returns int
language plpgsql volatile as $$
declare new_id int;
begin
    insert into hr.employee (name, email, salary, manager_id)
    values (hire.name, hire.email, hire.salary, hire.manager_id)
    returning id into new_id;
    perform wamp.publish(
        'com.example.hr.on_hire',
        jsonb_build_array(new_id),
        jsonb_build_object('name', name, 'email', email, 'hired_by', current_setting('wamp.authid', true))
    );
    return new_id;
end
$$;

-- com.example.hr.whoami() -> {session, authid, authrole}: the caller's identity as the database sees it.
create function hr_api.whoami() returns jsonb language sql stable as $$
    select jsonb_build_object(
        'session', current_setting('wamp.session', true),
        'authid', current_setting('wamp.authid', true),
        'authrole', current_setting('wamp.authrole', true))
$$;
