import { cpus, totalmem } from "node:os";
import { release } from "node:os";
import { explainMisses } from "./bounds.js";
import type { BenchResult } from "./lib.js";

/** Facts about the machine a report was measured on. */
export function machineLine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  return `${cpus().length} × ${cpu}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.version}`;
}

function fmt(v: number): string {
  if (v === 0) return "0";
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

export function renderMarkdown(results: BenchResult[], when: Date, accel: string): string {
  const lines = [
    "# mvmctl benchmark report",
    "",
    `Measured ${when.toISOString().slice(0, 16).replace("T", " ")} UTC on ${machineLine()}; hypervisor acceleration: ${accel}.`,
    "Every figure is compared with a baseline measured in the same run (`npm run bench`).",
    "",
    "| benchmark | result | baseline (same run) | ratio | target | met |",
    "|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    const base = r.baseline ? `${fmt(r.baseline.value)} ${r.unit} (${r.baseline.name})` : "—";
    const ratio = r.ratio === undefined ? "—" : `${r.ratio.toFixed(2)}×`;
    lines.push(
      `| ${r.name} | ${fmt(r.value)} ${r.unit} | ${base} | ${ratio} | ${r.target} | ${r.pass ? "yes" : "**no**"} |`,
    );
  }
  const notes = results.filter((r) => r.notes);
  if (notes.length) {
    lines.push("", "Notes:", "");
    for (const r of notes) lines.push(`- ${r.name}: ${r.notes}`);
  }
  const bounds = explainMisses(results);
  if (bounds.length) {
    lines.push("", "What bounds the targets not met, from this run's figures:", "");
    for (const b of bounds) lines.push(`- ${b}`);
  }
  for (const r of results.filter((x) => x.timeline)) {
    const t = r.timeline!;
    const total = t.phases.reduce((s, p) => s + p.ms, 0);
    lines.push(
      "",
      `Timeline of a ${t.title}, ${fmt(total)} ms in all:`,
      "",
      "| phase | ms | share |",
      "|---|---|---|",
    );
    for (const p of t.phases)
      lines.push(`| ${p.phase} | ${p.ms.toFixed(1)} | ${((100 * p.ms) / (total || 1)).toFixed(0)} % |`);
  }
  lines.push("", "![chart](chart.svg)", "");
  return lines.join("\n");
}

export interface ChartGroup {
  title: string;
  unit: string;
  bars: { label: string; value: number }[];
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A plain SVG of horizontal bars, one panel per group, each panel scaled to its own maximum. */
export function renderChart(groups: ChartGroup[]): string {
  const width = 760;
  const labelW = 300;
  const barH = 18;
  const gap = 6;
  let y = 20;
  const parts: string[] = [];
  const palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"];
  for (const g of groups) {
    parts.push(
      `<text x="10" y="${y}" font-weight="bold" font-size="14">${esc(g.title)} (${esc(g.unit)})</text>`,
    );
    y += 10;
    const max = Math.max(...g.bars.map((b) => b.value), 1e-9);
    g.bars.forEach((b, i) => {
      const w = Math.max(1, ((width - labelW - 90) * b.value) / max);
      parts.push(
        `<text x="10" y="${y + barH - 5}" font-size="12">${esc(b.label)}</text>`,
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${palette[i % palette.length]}"/>`,
        `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + barH - 5}" font-size="12">${esc(fmt(b.value))}</text>`,
      );
      y += barH + gap;
    });
    y += 24;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join("\n")}\n</svg>\n`;
}
