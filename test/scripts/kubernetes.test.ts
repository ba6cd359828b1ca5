/**
 * The Kubernetes manifests (deploy/kubernetes, from `npm run k8s:generate`): the committed
 * files are the generated ones; every object of each overlay, built as `kubectl apply -k`
 * would, is valid against the Kubernetes schemas (and KEDA's), offline; and they agree with
 * the code: probe paths are its routes, ports and environment names its settings, the
 * configuration and a development Secret make a valid production environment, termination
 * grace covers the shutdown timeouts, and KEDA watches the queues' real wait lists.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { drift } from '../../scripts/kubernetes/generate.ts';
import { type Manifest, podSpecOf, renderOverlay } from '../../scripts/kubernetes/kustomize.ts';
import {
  INGRESS_NAMESPACE,
  METRICS_NAMESPACE,
  PRE_STOP_SECONDS,
} from '../../scripts/kubernetes/manifests.ts';
import { OVERLAYS } from '../../scripts/kubernetes/overlays.ts';
import { validateManifest } from '../../scripts/kubernetes/validation.ts';
import { bullmqPrefix } from '../../src/core/jobs/bullmq-queue.ts';
import { isSecretSetting, parseSettings, SETTING_NAMES } from '../../src/core/settings.ts';
import { JOBS } from '../../src/modules.ts';
import { WORKER_PROBES } from '../../src/processes.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const openapi = JSON.parse(readFileSync(`${ROOT}openapi.json`, 'utf8')) as {
  paths: Record<string, Record<string, unknown>>;
};

interface Probe {
  httpGet: { path: string; port: string };
  timeoutSeconds?: number;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  ports?: { name: string; containerPort: number }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: { name: string }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  topologySpreadConstraints?: unknown[];
}

const rendered = new Map<string, Manifest[]>(
  OVERLAYS.map((overlay) => [overlay.name, renderOverlay(overlay)]),
);

/** An object's spec, as the shape a check reads. */
const specOf = <T>(object: Manifest): T => object.spec as T;

function find(overlay: string, kind: string, name: string): Manifest {
  const found = rendered
    .get(overlay)
    ?.find((object) => object.kind === kind && object.metadata.name === name);
  assert.ok(found, `${overlay}: ${kind}/${name}`);
  return found;
}

const podOf = (manifest: Manifest) => podSpecOf(manifest) as unknown as PodSpec;
const containerOf = (manifest: Manifest) => {
  const container = podOf(manifest).containers[0];
  assert.ok(container);
  return container;
};
const dataOf = (manifest: Manifest) =>
  ((manifest.data ?? manifest.stringData) as Record<string, string> | undefined) ?? {};

/** The service's own workloads (not development's PostgreSQL and Redis). */
const workloadsOf = (overlay: string) =>
  (rendered.get(overlay) ?? []).filter(
    (object) =>
      (object.kind === 'Deployment' || object.kind === 'Job') &&
      object.metadata.labels?.['app.kubernetes.io/name'] === 'hono-service',
  );

describe('the Kubernetes manifests', () => {
  test('the committed files are what npm run k8s:generate writes', () => {
    assert.deepEqual(drift(`${ROOT}deploy/kubernetes`), [], 'run npm run k8s:generate');
  });

  test('every object of each overlay is valid against the Kubernetes schemas', () => {
    for (const [overlay, objects] of rendered) {
      const kinds = new Set(objects.map((object) => object.kind));
      for (const kind of [
        'Deployment',
        'Job',
        'Service',
        'Ingress',
        'ConfigMap',
        'PodDisruptionBudget',
        'HorizontalPodAutoscaler',
        'ScaledObject',
        'TriggerAuthentication',
        'NetworkPolicy',
      ]) {
        assert.ok(kinds.has(kind), `${overlay} has a ${kind}`);
      }
      for (const object of objects) validateManifest(object);
    }
    // The check is real: a wrong type, or a field of the wrong shape, is refused.
    const api = find('prod', 'Deployment', 'hono-service-api');
    assert.throws(() =>
      validateManifest({ ...api, spec: { ...(api.spec as object), replicas: 'three' } }),
    );
    assert.throws(() =>
      validateManifest({ ...find('prod', 'Service', 'hono-service-api'), spec: { ports: 80 } }),
    );
  });

  test('probes ask the routes the code serves, on the ports its settings choose', () => {
    for (const overlay of rendered.keys()) {
      const config = dataOf(find(overlay, 'ConfigMap', 'hono-service-config'));
      const api = containerOf(find(overlay, 'Deployment', 'hono-service-api'));
      const worker = containerOf(find(overlay, 'Deployment', 'hono-service-worker'));
      for (const [container, port, paths] of [
        [api, Number(config.PORT), { live: '/livez', ready: '/readyz' }],
        [worker, Number(config.WORKER_HEALTH_PORT), WORKER_PROBES],
      ] as const) {
        assert.equal(container.livenessProbe?.httpGet.path, paths.live);
        assert.equal(container.startupProbe?.httpGet.path, paths.live);
        assert.equal(container.readinessProbe?.httpGet.path, paths.ready);
        const named = container.ports?.find(
          (entry) => entry.name === container.readinessProbe?.httpGet.port,
        );
        assert.equal(named?.containerPort, port, `${container.name} listens where it is probed`);
        assert.equal(container.livenessProbe?.httpGet.port, named?.name);
        // The readiness check's own deadline fits inside the probe's.
        assert.ok(
          (container.readinessProbe?.timeoutSeconds ?? 1) * 1000 >
            Number(config.READINESS_TIMEOUT_MS),
        );
      }
      // The API's probes are operations of the document generated from its routes.
      assert.ok(openapi.paths['/livez']?.get, '/livez is a route');
      assert.ok(openapi.paths['/readyz']?.get, '/readyz is a route');
      assert.deepEqual(api.command, ['node', 'dist/server.js']);
      assert.deepEqual(worker.command, ['node', 'dist/worker.js']);
    }
  });

  test('metrics scrapers reach /metrics of the API and the worker; only the ingress reaches the API besides', () => {
    for (const overlay of rendered.keys()) {
      for (const component of ['api', 'worker']) {
        const name = `hono-service-${component}`;
        // /metrics is served where the probes ask (the API's app, the worker's health server).
        const port = containerOf(find(overlay, 'Deployment', name)).readinessProbe?.httpGet.port;
        const policy = specOf<{
          ingress: {
            from: { namespaceSelector?: { matchLabels: Record<string, string> } }[];
            ports: { port: string | number }[];
          }[];
        }>(find(overlay, 'NetworkPolicy', name));
        const admitted = policy.ingress.flatMap((rule) =>
          rule.ports.some((entry) => entry.port === port)
            ? rule.from.map(
                (peer) => peer.namespaceSelector?.matchLabels['kubernetes.io/metadata.name'],
              )
            : [],
        );
        assert.ok(
          admitted.includes(METRICS_NAMESPACE),
          `${overlay} ${name}: ${admitted.join(', ')}`,
        );
        assert.deepEqual(
          [...new Set(admitted)].sort(),
          (component === 'api'
            ? [INGRESS_NAMESPACE, METRICS_NAMESPACE]
            : [METRICS_NAMESPACE]
          ).sort(),
        );
      }
    }
  });

  test('configuration and secrets are split as the settings schema splits them, and parse', () => {
    const names = new Set<string>(SETTING_NAMES);
    for (const overlay of rendered.keys()) {
      const config = dataOf(find(overlay, 'ConfigMap', 'hono-service-config'));
      for (const key of Object.keys(config)) {
        assert.ok(names.has(key), `${key} is a setting`);
        assert.ok(
          !isSecretSetting(key as never),
          `${key} is not a secret, so it may be configuration`,
        );
      }
      for (const workload of workloadsOf(overlay)) {
        const container = containerOf(workload);
        assert.deepEqual(
          container.envFrom?.map((source) => source.configMapRef?.name ?? source.secretRef?.name),
          ['hono-service-config', 'hono-service-secrets'],
        );
        for (const variable of container.env ?? [])
          assert.ok(names.has(variable.name), variable.name);
      }
    }
    const devSecret = dataOf(find('dev', 'Secret', 'hono-service-secrets'));
    for (const key of Object.keys(devSecret)) {
      assert.ok(isSecretSetting(key as never), `${key} is a secret setting`);
    }
    const dev = parseSettings({
      ...dataOf(find('dev', 'ConfigMap', 'hono-service-config')),
      ...devSecret,
    });
    assert.equal(dev.NODE_ENV, 'production', 'a valid production environment');
    const prod = parseSettings({
      ...dataOf(find('prod', 'ConfigMap', 'hono-service-config')),
      DATABASE_URL: 'postgres://app:secret@pgbouncer:6432/app',
      DATABASE_DIRECT_URL: 'postgres://app:secret@postgres:5432/app',
      REDIS_URL: 'rediss://:secret@redis:6379',
      JWT_SECRET: 'x'.repeat(48),
    });
    assert.equal(prod.DATABASE_POOLER, 'transaction');
  });

  test('termination grace covers the shutdown timeouts; preStop lets endpoints go first', () => {
    for (const overlay of rendered.keys()) {
      const config = dataOf(find(overlay, 'ConfigMap', 'hono-service-config'));
      const api = find(overlay, 'Deployment', 'hono-service-api');
      const preStop = containerOf(api).lifecycle?.preStop?.sleep?.seconds;
      assert.equal(preStop, PRE_STOP_SECONDS);
      // SIGTERM drains requests (SHUTDOWN_TIMEOUT_MS), then their background tasks (as long).
      assert.ok(
        (podOf(api).terminationGracePeriodSeconds ?? 30) * 1000 >=
          PRE_STOP_SECONDS * 1000 + 2 * Number(config.SHUTDOWN_TIMEOUT_MS) + 1000,
      );
      const worker = find(overlay, 'Deployment', 'hono-service-worker');
      assert.ok(
        (podOf(worker).terminationGracePeriodSeconds ?? 30) * 1000 >=
          Number(config.WORKER_SHUTDOWN_TIMEOUT_MS) + 5000,
      );
      // Above the ingress controller's upstream keep-alive (nginx: 60 s).
      assert.ok(Number(config.KEEP_ALIVE_TIMEOUT_MS) > 60_000);
      const strategy = (api.spec as { strategy: { rollingUpdate: { maxUnavailable: number } } })
        .strategy;
      assert.equal(strategy.rollingUpdate.maxUnavailable, 0);
    }
  });

  test('the service’s pods run locked down, with requests and limits, spread out', () => {
    for (const overlay of rendered.keys()) {
      for (const workload of workloadsOf(overlay)) {
        const pod = podOf(workload);
        const where = `${overlay} ${workload.kind}/${workload.metadata.name}`;
        assert.equal(pod.securityContext?.runAsNonRoot, true, where);
        assert.ok((pod.securityContext?.runAsUser ?? 0) > 0, where);
        for (const container of pod.containers) {
          assert.equal(container.securityContext?.readOnlyRootFilesystem, true, where);
          assert.equal(container.securityContext?.allowPrivilegeEscalation, false, where);
          assert.deepEqual(container.securityContext?.capabilities?.drop, ['ALL'], where);
          for (const resource of ['cpu', 'memory']) {
            assert.ok(container.resources?.requests?.[resource], `${where} requests ${resource}`);
            assert.ok(container.resources?.limits?.[resource], `${where} limits ${resource}`);
          }
          assert.match(container.image, /hono-service-template:/, 'the overlay names the image');
          // The production bundle, as the image runs it: the sources would load drizzle as
          // ES modules without the preload, ~250 MB more, past the limits (decision 056).
          assert.match(
            (container.command ?? []).join(' '),
            /^node dist\/(server|worker|migrate)\.js$/,
            `${where} runs the bundle`,
          );
        }
        if (workload.kind === 'Deployment') {
          assert.ok((pod.topologySpreadConstraints ?? []).length >= 1, `${where} spreads`);
        }
      }
    }
  });

  test('KEDA scales the workers on the BullMQ wait list of every queue', () => {
    for (const overlay of rendered.keys()) {
      const config = dataOf(find(overlay, 'ConfigMap', 'hono-service-config'));
      const prefix = bullmqPrefix(
        config.REDIS_KEY_PREFIX ?? 'app:',
        config.REDIS_CLUSTER === 'true',
      );
      const scaled = find(overlay, 'ScaledObject', 'hono-service-worker').spec as {
        scaleTargetRef: { name: string };
        triggers: { type: string; metadata: Record<string, string> }[];
      };
      assert.equal(scaled.scaleTargetRef.name, 'hono-service-worker');
      const lists = scaled.triggers.map((trigger) => trigger.metadata.listName).sort();
      const queues = JOBS.filter((job) => !job.schedule).map((job) => `${prefix}:${job.name}:wait`);
      assert.deepEqual(lists, queues.sort());
      assert.ok(scaled.triggers.every((trigger) => trigger.type === 'redis'));
    }
  });

  test('references resolve: services, ingress, autoscaler, budgets and policies select real pods', () => {
    for (const [overlay, objects] of rendered) {
      const pods = objects
        .filter((object) => object.kind === 'Deployment')
        .map((object) => ({
          name: object.metadata.name,
          labels: (object.spec as { template: { metadata: { labels: Record<string, string> } } })
            .template.metadata.labels,
          ports: podOf(object).containers.flatMap((container) => container.ports ?? []),
        }));
      const matching = (selector: Record<string, string>) =>
        pods.filter((pod) =>
          Object.entries(selector).every(([key, value]) => pod.labels[key] === value),
        );
      for (const object of objects) {
        const where = `${overlay} ${object.kind}/${object.metadata.name}`;
        if (object.kind === 'Service') {
          const spec = specOf<{
            selector: Record<string, string>;
            ports: { targetPort: string }[];
          }>(object);
          const [pod] = matching(spec.selector);
          assert.ok(pod, `${where} selects a Deployment's pods`);
          for (const port of spec.ports) {
            assert.ok(
              pod.ports.some((entry) => entry.name === port.targetPort),
              where,
            );
          }
        }
        if (
          (object.kind === 'PodDisruptionBudget' || object.kind === 'NetworkPolicy') &&
          !object.metadata.name.endsWith('-migrate')
        ) {
          const spec = specOf<{
            selector?: { matchLabels: Record<string, string> };
            podSelector?: { matchLabels: Record<string, string> };
          }>(object);
          const selector = spec.selector ?? spec.podSelector;
          assert.ok(selector, where);
          assert.equal(matching(selector.matchLabels).length, 1, where);
        }
        if (object.kind === 'HorizontalPodAutoscaler') {
          const target = specOf<{ scaleTargetRef: { name: string } }>(object).scaleTargetRef.name;
          assert.ok(
            pods.some((pod) => pod.name === target),
            where,
          );
        }
        if (object.kind === 'Ingress') {
          const spec = specOf<{
            rules: { http: { paths: { backend: { service: { name: string } } }[] } }[];
          }>(object);
          const backend = spec.rules[0]?.http.paths[0]?.backend.service.name;
          assert.ok(
            objects.some((other) => other.kind === 'Service' && other.metadata.name === backend),
            where,
          );
        }
      }
    }
  });
});
