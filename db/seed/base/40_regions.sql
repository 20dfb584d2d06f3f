-- Regions (regions). Idempotent: inserted by code; on later runs only the descriptive
-- columns (name, provider, coordinates) follow this file, while status, endpoint, capacity
-- and the primary flag stay as the operator set them. us-east-1 becomes the primary
-- region only if no region is primary yet.

INSERT INTO agentbase.regions AS r (code, name, provider, latitude, longitude, is_primary, metadata)
SELECT v.code, v.name, v.provider, v.latitude, v.longitude,
       v.primary_candidate AND NOT EXISTS (SELECT 1 FROM agentbase.regions WHERE is_primary),
       v.metadata::jsonb
FROM (VALUES
    ('us-east-1',      'US East (N. Virginia)',     'aws', 38.944000::numeric, -77.455800::numeric, true,  '{"jurisdiction": "US"}'),
    ('us-west-2',      'US West (Oregon)',          'aws', 45.839900, -119.700600, false, '{"jurisdiction": "US"}'),
    ('eu-west-1',      'Europe (Ireland)',          'aws', 53.349800,   -6.260300, false, '{"jurisdiction": "EU"}'),
    ('eu-central-1',   'Europe (Frankfurt)',        'aws', 50.110900,    8.682100, false, '{"jurisdiction": "EU"}'),
    ('ap-southeast-1', 'Asia Pacific (Singapore)',  'aws',  1.352100,  103.819800, false, '{"jurisdiction": "SG"}'),
    ('ap-northeast-1', 'Asia Pacific (Tokyo)',      'aws', 35.676200,  139.650300, false, '{"jurisdiction": "JP"}')
) AS v(code, name, provider, latitude, longitude, primary_candidate, metadata)
ON CONFLICT (code) DO UPDATE
   SET name = EXCLUDED.name, provider = EXCLUDED.provider,
       latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude
 WHERE (r.name, r.provider, r.latitude, r.longitude)
       IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.provider, EXCLUDED.latitude, EXCLUDED.longitude);
