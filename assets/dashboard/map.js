// The world map of the countries panel: requests by country on Natural Earth's shapes (worldmap.js, made
// once by dev/worldmap.sh, so nothing is fetched at run time). Each country is filled by its requests in a
// few steps of one hue; a click filters by the country, as the table does.

import { countryName, fmtInt, s } from './format.js';
import { countries as SHAPES, other as OTHER_LAND, sphere, viewBox } from './worldmap.js';

// Steps of the fill above "no requests"; the busiest country takes the last.
export const MAP_STEPS = 5;

// Each map's clip path needs an id of its own on the page.
let maps = 0;

// The step (1..MAP_STEPS) of a count on a log scale, so a long tail of small countries still shows.
function step(count, max) {
  if (!count) return 0;
  return Math.max(1, Math.ceil((MAP_STEPS * Math.log1p(count)) / Math.log1p(max)));
}

// `countries`: the /stats/geo answer's [{iso_code, name, count}]; `activeOf(code)`: whether the country
// is the filter; `onClick(code)` toggles it.
export function worldMap({ countries, width, labelOf, activeOf, onClick }) {
  const byCode = new Map(countries.map((c) => [c.iso_code, c]));
  const max = Math.max(1, ...countries.map((c) => c.count));
  const [, , w, hgt] = viewBox.split(' ').map(Number);
  const height = Math.round((width * hgt) / w);
  const svg = s('svg', {
    class: 'chart worldmap', width, height, viewBox, role: 'group',
    'aria-label': `World map of requests by country; ${countries.length} ${countries.length === 1 ? 'country' : 'countries'} with requests`,
  });
  // Shapes across the antimeridian are drawn on both sides; the globe's outline cuts what lies beyond.
  const clip = `worldmap-sphere-${(maps += 1)}`;
  svg.append(s('clipPath', { id: clip }, s('path', { d: sphere })));
  const world = s('g', { 'clip-path': `url(#${clip})` });
  for (const d of OTHER_LAND) world.append(s('path', { class: 'land', d }));
  const selectedPaths = [];
  for (const [code, d] of Object.entries(SHAPES)) {
    const data = byCode.get(code);
    const count = data?.count ?? 0;
    const name = data ? labelOf(data) : countryName(code);
    const title = `${name}: ${count ? `${fmtInt(count)} ${count === 1 ? 'request' : 'requests'}` : 'no requests'}`;
    const selected = activeOf(code);
    const path = s('path', {
      class: `country step-${step(count, max)}${selected ? ' active' : ''}`, d,
      dataset: { key: code, count, step: step(count, max) },
    }, s('title', {}, title));
    // Countries with requests (and the filtered one) are buttons; the rest is only land.
    if (count || selected) {
      setButton(path, `${title}. ${selected ? 'Remove this filter' : 'Filter by this country'}`, selected, () => onClick(code));
    }
    if (selected) selectedPaths.push(path);
    else world.append(path);
  }
  // The filtered country last, so its outline is above its neighbours'.
  world.append(...selectedPaths);
  svg.append(world, legend(max, hgt));
  return svg;
}

function setButton(node, label, pressed, action) {
  node.setAttribute('tabindex', '0');
  node.setAttribute('role', 'button');
  node.setAttribute('aria-pressed', pressed ? 'true' : 'false');
  node.setAttribute('aria-label', label);
  node.addEventListener('click', action);
  node.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      action();
    }
  });
}

// The scale's steps, bottom left: none, then each step's lowest count.
function legend(max, hgt) {
  const box = 14;
  const group = s('g', { class: 'map-legend', 'aria-hidden': 'true' });
  const y = hgt - box - 6;
  for (let i = 0; i <= MAP_STEPS; i += 1) {
    group.append(s('rect', { class: `step-${i}`, x: 8 + i * (box + 2), y, width: box, height: box, rx: 2 }));
  }
  group.append(
    s('text', { x: 8, y: y - 5 }, 'none'),
    s('text', { x: 8 + (MAP_STEPS + 1) * (box + 2) + 4, y: y + box - 3 }, `up to ${fmtInt(max)} requests`),
  );
  return group;
}
