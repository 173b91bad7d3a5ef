/** Prometheus metrics of the daemon and their reading back for `kuryr status`. */
export { Metrics, METRIC, type GaugeDefinition } from './metrics.js';
export { MetricsServer, metricsUrl, parseListenAddress, type ListenAddress } from './server.js';
export { parseExposition, histogramQuantile, summarise, type ActivitySummary, type DockerMethodSummary, type NeutronRequestSummary, type Sample } from './summary.js';
