// Converts Natural Earth country shapes (the npm package world-atlas, TopoJSON) into the dashboard's world
// map: one SVG path per country, keyed by its ISO 3166-1 alpha-2 code, projected once here with the
// A polygon whose rings cross the antimeridian (Fiji, Russia's Chukotka) made continuous in longitude, and
// drawn twice, once on each side: the map clips both copies to the globe's outline (`sphere`).
function wrapped(rings) {
    let crosses = false;
    const continuous = rings.map((r) => {
        const out = [r[0]];
        for (const [lon, lat] of r.slice(1)) {
            const previous = out[out.length - 1][0];
            let x = lon;
            while (x - previous > 180) x -= 360;
            while (previous - x > 180) x += 360;
            if (x !== lon) crosses = true;
            out.push([x, lat]);
        }
        return out;
    });
    if (!crosses) return [rings];
    const shift = (d) => continuous.map((r) => r.map(([lon, lat]) => [lon + d, lat]));
    return [continuous, shift(continuous.flat().some(([lon]) => lon > 180) ? -360 : 360)];
}

// Natural Earth I projection. Run through dev/worldmap.sh, which fetches the pinned packages.
//
// Usage: node dev/worldmap.mjs WORLD_ATLAS_DIR I18N_ISO_COUNTRIES_DIR OUT.js
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [atlasDir, codesDir, out] = process.argv.slice(2);
if (!out) {
    console.error('usage: node dev/worldmap.mjs WORLD_ATLAS_DIR I18N_ISO_COUNTRIES_DIR OUT.js');
    process.exit(2);
}
const atlasPackage = JSON.parse(readFileSync(join(atlasDir, 'package.json'), 'utf8'));
const codesPackage = JSON.parse(readFileSync(join(codesDir, 'package.json'), 'utf8'));
const topology = JSON.parse(readFileSync(join(atlasDir, 'countries-110m.json'), 'utf8'));
// [alpha-2, alpha-3, numeric, subdivision code], one per country.
const codes = JSON.parse(readFileSync(join(codesDir, 'codes.json'), 'utf8'));
const alpha2 = new Map(codes.map(([a2, , numeric]) => [numeric, a2]));

const WIDTH = 960; // the map's width in viewBox units
const SKIP = new Set(['AQ']); // Antarctica: no visitors, and half the map's height

// TopoJSON arcs: quantized, delta-encoded positions; `transform` turns them back into degrees.
const { scale, translate } = topology.transform;
const arcs = topology.arcs.map((arc) => {
    let x = 0;
    let y = 0;
    return arc.map(([dx, dy]) => {
        x += dx;
        y += dy;
        return [x * scale[0] + translate[0], y * scale[1] + translate[1]];
    });
});

// A ring's positions from its arc indexes (a negative index ~i is arc i reversed); shared ends once.
function ring(indexes) {
    const points = [];
    for (const i of indexes) {
        const arc = i < 0 ? arcs[~i].slice().reverse() : arcs[i];
        points.push(...(points.length ? arc.slice(1) : arc));
    }
    return points;
}

// Natural Earth I (Šavrič, Jenny, Patterson and Jenny, 2011), as d3-geo's geoNaturalEarth1 has it.
function naturalEarth([lon, lat]) {
    const lambda = (lon * Math.PI) / 180;
    const phi = (lat * Math.PI) / 180;
    const phi2 = phi * phi;
    const phi4 = phi2 * phi2;
    return [
        lambda * (0.8707 - 0.131979 * phi2 + phi4 * (-0.013791 + phi4 * (0.003971 * phi2 - 0.001529 * phi4))),
        -phi * (1.007226 + phi2 * (0.015085 + phi4 * (-0.044475 + 0.028874 * phi2 - 0.005916 * phi4))),
    ];
}

// Land with no ISO 3166-1 numeric code that GeoIP databases still name: MaxMind's GeoLite2 and GeoIP2
// give Kosovo the user-assigned code XK (as the European Commission does).
const BY_NAME = new Map([['Kosovo', 'XK']]);

const features = topology.objects.countries.geometries
    .map((g) => ({
        code: (g.id === undefined ? null : alpha2.get(g.id)) ?? BY_NAME.get(g.properties?.name) ?? null,
        id: g.id,
        name: g.properties?.name,
        polygons: (g.type === 'Polygon' ? [g.arcs] : g.type === 'MultiPolygon' ? g.arcs : []).flatMap((p) =>
            wrapped(p.map(ring)).map((rings) => rings.map((r) => r.map(naturalEarth))),
        ),
    }))
    .filter((f) => !SKIP.has(f.code));

// The whole world's width (±180° on the equator) is WIDTH; the height is what the shapes span.
const k = WIDTH / (2 * naturalEarth([180, 0])[0]);
let minY = Infinity;
let maxY = -Infinity;
for (const f of features) {
    for (const p of f.polygons) {
        for (const r of p) {
            for (const [, y] of r) {
                minY = Math.min(minY, y * k);
                maxY = Math.max(maxY, y * k);
            }
        }
    }
}
const top = Math.floor(minY) - 2;
const height = Math.ceil(maxY) - top + 2;

// One decimal of a viewBox unit is finer than a pixel at any size the dashboard draws the map.
const round = (v) => Math.round(v * 10);
const num = (v) => {
    const text = (v / 10).toFixed(1).replace(/\.0$/, '');
    return text.replace(/^(-?)0\./, '$1.');
};
// A polygon as compact path data: relative moves, repeated positions dropped, each ring closed.
function pathOf(polygons) {
    let d = '';
    let px = 0;
    let py = 0;
    for (const p of polygons) {
        for (const r of p) {
            const pts = [];
            for (const [x, y] of r) {
                const q = [round(x * k + WIDTH / 2), round(y * k - top)];
                const last = pts[pts.length - 1];
                if (!last || last[0] !== q[0] || last[1] !== q[1]) pts.push(q);
            }
            if (pts.length > 1 && pts[0][0] === pts[pts.length - 1][0] && pts[0][1] === pts[pts.length - 1][1]) pts.pop();
            if (pts.length < 3) continue;
            pts.forEach(([x, y], i) => {
                const dx = num(x - px);
                const dy = num(y - py);
                d += `${i === 0 ? 'm' : i === 1 ? 'l' : ''}${i > 1 && !dx.startsWith('-') ? ' ' : ''}${dx}${dy.startsWith('-') ? '' : ' '}${dy}`;
                px = x;
                py = y;
            });
            d += 'z';
        }
    }
    return d;
}

// The globe's outline, the edge that clips shapes drawn past the antimeridian.
const edge = [];
for (let lat = 90; lat >= -90; lat -= 2) edge.push([-180, lat]);
for (let lat = -90; lat <= 90; lat += 2) edge.push([180, lat]);
const sphere = pathOf([[edge.map(naturalEarth)]]);

const countries = {};
const unkeyed = [];
for (const f of features.sort((a, b) => (a.code ?? '').localeCompare(b.code ?? ''))) {
    const d = pathOf(f.polygons);
    if (!d) continue;
    if (f.code) {
        countries[f.code] = countries[f.code] ? countries[f.code] + d : d;
    } else {
        // No ISO 3166-1 code in the data (N. Cyprus, Somaliland): drawn as land, not counted.
        unkeyed.push(d);
        console.error(`drawn without a code: ${f.name} (id ${f.id ?? 'none'})`);
    }
}

const body = [
    '// Generated by dev/worldmap.sh: do not edit. Country shapes from Natural Earth (public domain), 1:110m,',
    `// via the npm package world-atlas ${atlasPackage.version} (ISC); ISO 3166-1 numeric to alpha-2 codes from`,
    `// i18n-iso-countries ${codesPackage.version} (MIT); Natural Earth I projection. See WORLDMAP-LICENSE.`,
    `export const viewBox = '0 0 ${WIDTH} ${height}';`,
    '',
    '// One SVG path per country, keyed by ISO 3166-1 alpha-2 code.',
    'export const countries = {',
    ...Object.entries(countries).map(([code, d]) => `${code}:'${d}',`),
    '};',
    '',
    '// The globe\'s outline: shapes that cross the antimeridian are drawn on both sides and clipped to it.',
    `export const sphere = '${sphere}';`,
    '',
    '// Land without an ISO 3166-1 code of its own.',
    'export const other = [',
    ...unkeyed.map((d) => `'${d}',`),
    '];',
    '',
].join('\n');
writeFileSync(out, body);
console.error(`${out}: ${Object.keys(countries).length} countries, ${body.length} bytes`);
