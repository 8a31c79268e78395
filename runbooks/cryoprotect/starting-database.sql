-- CryoProtect starting database: the schema as it exists before the remediation.
--
-- It models a research app that tracks cryoprotectant molecules, the mixtures
-- made from them, lab experiments and model predictions. It grew by CSV
-- imports and quick fixes, so it carries the defects phases 1-5 remove:
--   * singular table names, no row-level security
--   * only user_profile and property_type have a primary key, there are no
--     foreign keys, CHECK constraints or indexes, and most columns allow NULL
--   * a fan trap: experiment points at a molecule AND at a mixture, and the
--     mixture fans out to molecules again through mixture_component
--   * copied columns (experiment.property_name/property_unit,
--     mixture.creator_email) that break third normal form
--   * data damage: exact duplicate rows from double imports, molecules
--     registered twice, orphaned rows, values typed in the wrong unit
--
-- All data is generated with arithmetic on generate_series, so every load
-- gives the same rows. Load into an empty database as a superuser:
--   psql -X -v ON_ERROR_STOP=1 -d DB -f starting-database.sql

create table user_profile (
    id uuid primary key,
    email text,
    display_name text,
    affiliation text,
    role text,
    created_at timestamptz
);

create table property_type (
    id serial primary key,
    name text,
    unit text,
    description text
);

create table molecule (
    id serial,
    name text,
    formula text,
    smiles text,
    molecular_weight numeric,
    pubchem_cid integer,
    created_by uuid,
    created_at timestamptz
);

create table mixture (
    id serial,
    name text,
    description text,
    created_by uuid,
    creator_email text,
    created_at timestamptz
);

create table mixture_component (
    mixture_id integer,
    molecule_id integer,
    concentration numeric,
    concentration_unit text
);

create table experiment (
    id serial,
    name text,
    mixture_id integer,
    molecule_id integer,
    property_type_id integer,
    property_name text,
    property_unit text,
    value numeric,
    temperature_k numeric,
    experiment_date date,
    notes text,
    created_by uuid,
    created_at timestamptz
);

create table prediction (
    id serial,
    mixture_id integer,
    property_type_id integer,
    predicted_value numeric,
    confidence numeric,
    model_name text,
    created_by uuid,
    created_at timestamptz
);

-- Users: 40 live accounts. Accounts 41-45 were deleted without cleaning up
-- the rows they created, which is where the orphaned created_by values come from.
insert into user_profile (id, email, display_name, affiliation, role, created_at)
select md5('cryoprotect-user-' || i)::uuid,
       lower(first_name || '.' || last_name) || i || '@' || domain,
       first_name || ' ' || last_name,
       affiliation,
       case when i <= 2 then 'admin' when i % 7 = 0 then 'viewer' else 'researcher' end,
       timestamptz '2023-01-02 09:00:00+00' + i * interval '3 days 4 hours'
from generate_series(1, 40) as i,
     lateral (select (array['Ada', 'Ben', 'Chloe', 'Dev', 'Elena', 'Farid', 'Grace', 'Hiro'])[1 + i % 8] as first_name,
                     (array['Nakamura', 'Okafor', 'Petrov', 'Quinn', 'Rossi'])[1 + i % 5] as last_name,
                     (array['cryoprotect.org', 'biobank.example.edu', 'cryolab.example.com'])[1 + i % 3] as domain,
                     (array['Cryobiology Lab', 'Organ Preservation Unit', 'Biobank Core', 'Materials Group'])[1 + i % 4]
                         as affiliation) as pick;

insert into property_type (name, unit, description) values
    ('Glass transition temperature', 'K', 'Temperature at which the vitrified solution turns rubbery'),
    ('Melting point', 'K', 'Onset of melting on warming'),
    ('Viscosity', 'mPa.s', 'Dynamic viscosity at the stated temperature'),
    ('Cell viability', '%', 'Share of cells alive after thaw'),
    ('Toxicity IC50', 'mM', 'Concentration that halves cell viability'),
    ('Osmolality', 'mOsm/kg', 'Osmotic strength of the solution'),
    ('Critical cooling rate', 'K/min', 'Slowest cooling that still avoids ice'),
    ('Ice recrystallisation inhibition', '%', 'Reduction of ice crystal growth versus control');

-- Molecules 1-27: well-known cryoprotectants.
insert into molecule (name, formula, smiles, molecular_weight, pubchem_cid, created_by, created_at)
select name, formula, smiles, mw, cid, md5('cryoprotect-user-' || (1 + n % 2))::uuid,
       timestamptz '2023-01-05 10:00:00+00' + n * interval '1 hour'
from (values
    (1, 'Dimethyl sulfoxide', 'C2H6OS', 'CS(=O)C', 78.13, 679),
    (2, 'Glycerol', 'C3H8O3', 'OCC(O)CO', 92.09, 753),
    (3, 'Ethylene glycol', 'C2H6O2', 'OCCO', 62.07, 174),
    (4, 'Propylene glycol', 'C3H8O2', 'CC(O)CO', 76.09, 1030),
    (5, 'Methanol', 'CH4O', 'CO', 32.04, 887),
    (6, 'Ethanol', 'C2H6O', 'CCO', 46.07, 702),
    (7, 'Formamide', 'CH3NO', 'NC=O', 45.04, 713),
    (8, 'Acetamide', 'C2H5NO', 'CC(N)=O', 59.07, 178),
    (9, 'Trehalose', 'C12H22O11',
        'OC[C@H]1O[C@H](O[C@H]2O[C@H](CO)[C@@H](O)[C@H](O)[C@H]2O)[C@H](O)[C@@H](O)[C@@H]1O', 342.30, 7427),
    (10, 'Sucrose', 'C12H22O11',
        'OC[C@H]1O[C@@](CO)(O[C@H]2O[C@H](CO)[C@@H](O)[C@H](O)[C@H]2O)[C@@H](O)[C@@H]1O', 342.30, 5988),
    (11, 'Glucose', 'C6H12O6', 'OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O', 180.16, 5793),
    (12, 'Mannitol', 'C6H14O6', 'OC[C@@H](O)[C@@H](O)[C@H](O)[C@H](O)CO', 182.17, 6251),
    (13, 'Sorbitol', 'C6H14O6', 'OC[C@H](O)[C@@H](O)[C@H](O)[C@H](O)CO', 182.17, 5780),
    (14, 'L-Proline', 'C5H9NO2', 'OC(=O)[C@@H]1CCCN1', 115.13, 145742),
    (15, 'Betaine', 'C5H11NO2', 'C[N+](C)(C)CC([O-])=O', 117.15, 247),
    (16, 'Glycine', 'C2H5NO2', 'NCC(O)=O', 75.07, 750),
    (17, 'L-Alanine', 'C3H7NO2', 'C[C@H](N)C(O)=O', 89.09, 5950),
    (18, 'Urea', 'CH4N2O', 'NC(N)=O', 60.06, 1176),
    (19, '1,3-Propanediol', 'C3H8O2', 'OCCCO', 76.09, 10442),
    (20, '2,3-Butanediol', 'C4H10O2', 'CC(O)C(C)O', 90.12, 262),
    (21, 'Xylitol', 'C5H12O5', 'OC[C@H](O)[C@@H](O)[C@H](O)CO', 152.15, 6912),
    (22, 'Erythritol', 'C4H10O4', 'OC[C@@H](O)[C@@H](O)CO', 122.12, 222285),
    (23, 'Ectoine', 'C6H10N2O2', 'CC1=N[C@@H](CCN1)C(O)=O', 142.16, 126041),
    (24, 'Taurine', 'C2H7NO3S', 'NCCS(O)(=O)=O', 125.15, 1123),
    (25, 'N-Methylformamide', 'C2H5NO', 'CNC=O', 59.07, 31254),
    (26, 'Dimethylformamide', 'C3H7NO', 'CN(C)C=O', 73.09, 6228),
    (27, 'Dimethylacetamide', 'C4H9NO', 'CN(C)C(C)=O', 87.12, 31374)
) as known(n, name, formula, smiles, mw, cid)
order by n;

-- Molecules 28-297: screened polyol candidates, a chain of a carbons with b
-- extra hydroxymethyl groups; (a, b) is unique per row, so is the SMILES,
-- and none is written like a known molecule above.
insert into molecule (name, formula, smiles, molecular_weight, pubchem_cid, created_by, created_at)
select 'CPA candidate ' || lpad(i::text, 4, '0'),
       'C' || (a + b + 3) || 'H' || (2 * (a + b + 3) + 2) || 'O' || (b + 2),
       'OCC' || repeat('C', a) || 'C(O)' || repeat('CO', b),
       round(12.011 * (a + b + 3) + 1.008 * (2 * (a + b + 3) + 2) + 15.999 * (b + 2), 2),
       null,
       -- every 37th candidate was registered by an account that no longer exists
       case when i % 37 = 0 then md5('cryoprotect-user-' || (41 + i % 5))::uuid
            else md5('cryoprotect-user-' || (1 + i % 40))::uuid end,
       timestamptz '2023-03-01 08:00:00+00' + i * interval '7 hours'
from generate_series(1, 270) as i,
     lateral (select i % 60 as a, i / 60 as b) as shape
order by i;

-- Molecules 298-307: the first ten known molecules registered a second time
-- under a differently written name (same SMILES): logical duplicates.
insert into molecule (name, formula, smiles, molecular_weight, pubchem_cid, created_by, created_at)
select case when id % 2 = 0 then lower(name) else upper(name) end,
       formula, smiles, molecular_weight, pubchem_cid,
       md5('cryoprotect-user-' || (10 + id))::uuid,
       timestamptz '2024-02-01 12:00:00+00' + id * interval '1 day'
from molecule
where id <= 10
order by id;

-- Every 25th molecule imported twice: exact duplicate rows.
insert into molecule select * from molecule where id % 25 = 0 order by id;

insert into mixture (name, description, created_by, creator_email, created_at)
select (array['VS55 variant', 'M22 variant', 'DP6 variant', 'Trehalose-glycerol blend',
              'Low-toxicity vitrification solution', 'Slow-freezing medium', 'Ice-blocker cocktail',
              'Sugar-amide blend'])[1 + i % 8] || ' ' || i,
       'Formulation ' || i || ' for ' ||
           (array['oocytes', 'kidney slices', 'stem cells', 'red blood cells', 'corneas'])[1 + i % 5],
       owner,
       coalesce(u.email, 'former.member' || i || '@cryoprotect.org'),
       timestamptz '2023-04-01 09:00:00+00' + i * interval '13 hours'
from generate_series(1, 400) as i
cross join lateral (select case when i % 41 = 0 then md5('cryoprotect-user-' || (41 + i % 5))::uuid
                                else md5('cryoprotect-user-' || (1 + i % 40))::uuid end as owner) as o
left join user_profile u on u.id = o.owner
order by i;

-- Each mixture has 2-4 components: a known cryoprotectant first (sometimes
-- recorded under its duplicate id), then screened candidates.
insert into mixture_component (mixture_id, molecule_id, concentration, concentration_unit)
select m,
       case when j > 0 then 28 + (m * 7 + j * 31) % 270
            when m % 9 = 0 and m % 27 < 10 then 298 + m % 27   -- the duplicate registration
            else 1 + m % 27 end,
       -- every 97th entry lost its sign on import
       case when (m * 3 + j) % 97 = 0 then -1 else 1 end *
           case when j = 0 then 5 + m % 50 else 0.5 + ((m * 13 + j * 7) % 40) / 4.0 end,
       case when j = 0 then '%w/v' else (array['%w/v', '%v/v', 'M', 'mM'])[1 + (m + j) % 4] end
from generate_series(1, 400) as m,
     generate_series(0, 3) as j
where j < 2 + m % 3
order by m, j;

-- Mixtures that list a known molecule under both of its ids.
insert into mixture_component (mixture_id, molecule_id, concentration, concentration_unit)
select m, 298 + m % 27, 2.5, '%w/v'
from generate_series(1, 400) as m
where m % 27 < 10 and m % 9 <> 0 and m % 11 = 0
order by m;

-- Components of mixtures and molecules that were deleted: orphans.
insert into mixture_component (mixture_id, molecule_id, concentration, concentration_unit)
select 1000 + i, 1 + i % 27, 10, '%w/v' from generate_series(1, 25) as i order by i;
insert into mixture_component (mixture_id, molecule_id, concentration, concentration_unit)
select 1 + (i * 19) % 400, 5000 + i, 1.5, 'M' from generate_series(1, 20) as i order by i;

-- Some component lines imported twice.
insert into mixture_component
select * from mixture_component where mixture_id <= 400 and (mixture_id * 7 + molecule_id) % 41 = 0
order by mixture_id, molecule_id;

-- Experiments: every 4th tests a single molecule, the rest a mixture. For a
-- mixture experiment molecule_id repeats the mixture's main cryoprotectant,
-- and for every 23rd it names a molecule that is not in the mixture at all.
insert into experiment (name, mixture_id, molecule_id, property_type_id, property_name, property_unit, value,
                        temperature_k, experiment_date, notes, created_by, created_at)
select 'EXP-' || lpad(e::text, 5, '0'),
       case when e % 4 = 0 then null else mix end,
       case when e % 4 = 0 then 1 + e % 27
            when e % 23 = 0 then 28 + e % 270
            else 1 + mix % 27 end,
       p.id,
       -- the copied names drifted from property_type over time
       case when e % 101 = 0 then 'Tg' else p.name end,
       p.unit,
       case p.id
           when 1 then 150 + (e * 7) % 60
           when 2 then 230 + (e * 11) % 40
           when 3 then 1 + ((e * 13) % 500) / 10.0
           when 4 then 20 + (e * 17) % 80
           when 5 then 1 + ((e * 19) % 900) / 10.0
           when 6 then 300 + (e * 23) % 3000
           when 7 then 0.1 + ((e * 29) % 1000) / 10.0
           else (e * 31) % 100 end,
       -- every 97th temperature was typed in Celsius
       case when e % 97 = 0 then -196 else (array[77, 193, 253, 277, 293, 310])[1 + e % 6] end,
       date '2023-02-01' + (e * 3) % 700,
       case when e % 10 = 0 then 'repeat of ' || 'EXP-' || lpad((e - 1)::text, 5, '0') end,
       case when e % 53 = 0 then md5('cryoprotect-user-' || (41 + e % 5))::uuid
            else md5('cryoprotect-user-' || (1 + e % 40))::uuid end,
       timestamptz '2023-02-01 17:00:00+00' + ((e * 3) % 700) * interval '1 day'
from generate_series(1, 2000) as e
cross join lateral (select 1 + (e * 17) % 400 as mix) as x
join property_type p on p.id = 1 + e % 8
order by e;

-- Orphaned experiments: deleted mixtures, a property type that never
-- existed, and molecules that were deleted.
insert into experiment (name, mixture_id, molecule_id, property_type_id, property_name, property_unit, value,
                        temperature_k, experiment_date, created_by, created_at)
select 'EXP-X' || lpad(i::text, 4, '0'),
       case when i <= 30 then 2000 + i else null end,
       case when i > 40 then 9000 + i else 1 + i % 27 end,
       case when i between 31 and 40 then 99 else 1 + i % 8 end,
       'Legacy property', 'K', 100 + i, 293,
       date '2023-01-15' + i,
       md5('cryoprotect-user-' || (1 + i % 40))::uuid,
       timestamptz '2023-01-15 12:00:00+00' + i * interval '1 day'
from generate_series(1, 55) as i
order by i;

-- Some experiments imported twice.
insert into experiment select * from experiment where id % 137 = 0 order by id;

insert into prediction (mixture_id, property_type_id, predicted_value, confidence, model_name, created_by,
                        created_at)
select 1 + (i * 13) % 400,
       1 + i % 8,
       round((50 + (i * 37) % 250 + ((i * 11) % 100) / 100.0)::numeric, 2),
       -- every 50th confidence was stored as a percentage
       case when i % 50 = 0 then 100 else 1 end * (0.5 + ((i * 7) % 50) / 100.0),
       (array['cryo-gnn-v2', 'rf-baseline', 'xgb-2023.4'])[1 + i % 3],
       case when i % 61 = 0 then md5('cryoprotect-user-' || (41 + i % 5))::uuid
            else md5('cryoprotect-user-' || (1 + i % 40))::uuid end,
       timestamptz '2023-06-01 00:00:00+00' + i * interval '5 hours'
from generate_series(1, 1500) as i
order by i;

-- Predictions for deleted mixtures: orphans.
insert into prediction (mixture_id, property_type_id, predicted_value, confidence, model_name, created_by,
                        created_at)
select 3000 + i, 1 + i % 8, 100, 0.8, 'rf-baseline', md5('cryoprotect-user-1')::uuid,
       timestamptz '2023-05-01 00:00:00+00' + i * interval '1 hour'
from generate_series(1, 20) as i
order by i;

-- Some predictions imported twice.
insert into prediction select * from prediction where id % 60 = 0 order by id;

analyze;
