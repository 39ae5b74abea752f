-- The programme's waves so far. Filing windows of the closed waves are approximate (the
-- calls ran a few months before each announcement); they no longer accept filings anyway.
-- Targets: 80 cités in Sept 2019, +46 in Jan 2021, +74 in Jan 2022 (200 in all), and the
-- généralisation aims at 850 by 2027, i.e. 650 more. New waves are added through the API.
INSERT INTO waves (id, year, title, rule_set, filing_opens_on, filing_closes_on,
                   review_criteria, target_count, status)
VALUES
    ('2019', 2019, 'Vague 2019 (préfiguration)', '2019-v1', '2019-02-01', '2019-06-30',
     ARRAY['diagnostic_quality', 'steering_strength', 'indicator_precision'], 80, 'closed'),
    ('2021', 2021, 'Vague 2021', '2021-v1', '2020-09-01', '2020-11-30',
     ARRAY['diagnostic_quality', 'steering_strength', 'indicator_precision'], 46, 'closed'),
    ('2022', 2022, 'Vague 2022', '2021-v1', '2021-06-01', '2021-10-31',
     ARRAY['diagnostic_quality', 'steering_strength', 'indicator_precision'], 74, 'closed'),
    ('2024-generalisation', 2024, 'Généralisation (2024 et suivantes)', '2024-v1', NULL, NULL,
     ARRAY['perimeter', 'diagnostic', 'objectives', 'governance', 'steering', 'action_plan',
           'means', 'identity', 'quality_approach'], 650, 'open');
