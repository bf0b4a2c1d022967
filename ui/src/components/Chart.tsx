// ECharts, tree-shaken to the charts the console draws, themed from the CSS variables.
import { useEffect, useRef } from 'react';
import * as echarts from 'echarts/core';
import { BarChart, LineChart, PieChart } from 'echarts/charts';
import {
  BrushComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { cssVar, useTheme } from '../lib/theme';

echarts.use([
  BarChart,
  LineChart,
  PieChart,
  GridComponent,
  TooltipComponent,
  LegendComponent,
  BrushComponent,
  CanvasRenderer,
]);

export type ChartOption = echarts.EChartsCoreOption;

export function palette(): string[] {
  return ['--chart-1', '--chart-2', '--chart-3', '--chart-4', '--chart-5', '--chart-6'].map(cssVar);
}

function themed(option: ChartOption): ChartOption {
  const text = cssVar('--text-muted');
  const grid = cssVar('--chart-grid');
  const axis = (a: unknown) =>
    a && typeof a === 'object'
      ? {
          axisLine: { lineStyle: { color: grid } },
          axisLabel: { color: text },
          splitLine: { lineStyle: { color: grid } },
          ...(a as object),
        }
      : a;
  return {
    color: palette(),
    textStyle: { color: cssVar('--text'), fontFamily: 'inherit' },
    tooltip: {
      backgroundColor: cssVar('--surface'),
      borderColor: cssVar('--border'),
      textStyle: { color: cssVar('--text') },
      ...((option.tooltip as object) ?? {}),
    },
    legend: option.legend ? { textStyle: { color: text }, ...(option.legend as object) } : undefined,
    ...option,
    xAxis: Array.isArray(option.xAxis) ? option.xAxis.map(axis) : axis(option.xAxis),
    yAxis: Array.isArray(option.yAxis) ? option.yAxis.map(axis) : axis(option.yAxis),
  };
}

export function Chart({
  option,
  height = 240,
  label,
  onBrush,
  onClick,
}: {
  option: ChartOption;
  height?: number;
  label: string;
  /** Called with the x-axis values of a drag selection (category index range). */
  onBrush?: (start: number, end: number) => void;
  onClick?: (name: string, seriesName?: string) => void;
}) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const [theme] = useTheme();
  const handlers = useRef({ onBrush, onClick });
  handlers.current = { onBrush, onClick };

  useEffect(() => {
    if (!el.current) return;
    const c = echarts.init(el.current, undefined, { renderer: 'canvas' });
    chart.current = c;
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(el.current);
    c.on('brushEnd', (p: unknown) => {
      const areas = (p as { areas?: { coordRange?: number[] }[] }).areas;
      const r = areas?.[0]?.coordRange;
      if (r && handlers.current.onBrush) handlers.current.onBrush(r[0], r[1]);
      c.dispatchAction({ type: 'brush', areas: [] });
    });
    c.on('click', (p: unknown) => {
      const e = p as { name?: string; seriesName?: string };
      if (e.name !== undefined) handlers.current.onClick?.(e.name, e.seriesName);
    });
    return () => {
      ro.disconnect();
      c.dispose();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    c.setOption(themed(option), true);
    if (onBrush) {
      c.dispatchAction({ type: 'takeGlobalCursor', key: 'brush', brushOption: { brushType: 'lineX', brushMode: 'single' } });
    }
  }, [option, theme, onBrush]);

  return <div ref={el} className="chart" style={{ height }} role="img" aria-label={label} />;
}
