/**
 * The Kubernetes objects of the service, built from the code they run: the settings schema
 * (which settings are secrets, their defaults), the probes' routes and the job queues. The
 * base is what every environment shares; the overlays say how development and production
 * differ, as kustomize patches. `npm run k8s:generate` writes them under deploy/kubernetes.
 */

import type { Model } from '@kubernetes-models/base';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import {
  type INetworkPolicyEgressRule,
  Ingress,
  NetworkPolicy,
} from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ConfigMap,
  type IContainer,
  type IPodSpec,
  type IProbe,
  Secret,
  Service,
} from 'kubernetes-models/v1';
import { bullmqPrefix } from '../../src/core/jobs/bullmq-queue.ts';
import { isSecretSetting, type SettingName, settingsSchema } from '../../src/core/settings.ts';
import { livez, readyz } from '../../src/modules/health/health.routes.ts';
import { JOBS } from '../../src/modules.ts';
import { WORKER_PROBES } from '../../src/processes.ts';

export const NAME = 'hono-service';
/** The image every container runs; an overlay's `images` entry names the real one. */
export const IMAGE = 'hono-service-template';
export const CONFIG_NAME = `${NAME}-config`;
export const SECRET_NAME = `${NAME}-secrets`;
export const KEDA_SECRET_NAME = `${NAME}-keda-redis`;

/** Seconds the API waits before it stops accepting: the time load balancers take to let go. */
export const PRE_STOP_SECONDS = 5;
/** The namespace of the ingress controller (ingress-nginx), the one door to the API. */
export const INGRESS_NAMESPACE = 'ingress-nginx';
/** The namespace of the metrics scrapers (Prometheus), let in to every process's `/metrics`. */
export const METRICS_NAMESPACE = 'monitoring';

/**
 * Plain configuration every environment shares: production mode in a container, one
 * process per pod (replicas scale it, not WEB_CONCURRENCY), migrations by the Job.
 */
export const BASE_CONFIG = {
  NODE_ENV: 'production',
  HOST: '0.0.0.0',
  PORT: '3000',
  WORKER_HEALTH_PORT: '3001',
  MIGRATE_ON_START: 'false',
  WEB_CONCURRENCY: '1',
  LOG_FORMAT: 'json',
  LOG_LEVEL: 'info',
  // The ingress controller is the one proxy in front.
  TRUST_PROXY_HOPS: '1',
  SHUTDOWN_TIMEOUT_MS: '10000',
  WORKER_SHUTDOWN_TIMEOUT_MS: '25000',
  READINESS_TIMEOUT_MS: '2000',
  KEEP_ALIVE_TIMEOUT_MS: '65000',
  STORAGE_DRIVER: 'database',
} satisfies Partial<Record<SettingName, string>>;

/** A setting's value in `config`, else the schema's default (the process's own). */
export function settingValue(name: SettingName, config: Record<string, string>): string {
  const value = config[name];
  if (value !== undefined) return value;
  const parsed = settingsSchema.in.shape[name].safeParse(undefined);
  return parsed.success && parsed.data !== undefined ? String(parsed.data) : '';
}

const ms = (name: SettingName) => Number(settingValue(name, BASE_CONFIG));

/** Time the API's SIGTERM handling may take: drain requests, then their background tasks. */
export const API_GRACE_SECONDS =
  PRE_STOP_SECONDS + Math.ceil((2 * ms('SHUTDOWN_TIMEOUT_MS')) / 1000) + 5;
/** The worker finishes its jobs up to WORKER_SHUTDOWN_TIMEOUT_MS, then hands them back. */
export const WORKER_GRACE_SECONDS = Math.ceil(ms('WORKER_SHUTDOWN_TIMEOUT_MS') / 1000) + 10;

const labels = (component: string) => ({
  'app.kubernetes.io/name': NAME,
  'app.kubernetes.io/component': component,
});

const metadata = (name: string, component: string) => ({ name, labels: labels(component) });

/** What a container may do: nothing it does not need. */
const restricted: IContainer['securityContext'] = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
};

const environment: Pick<IContainer, 'envFrom'> = {
  envFrom: [{ configMapRef: { name: CONFIG_NAME } }, { secretRef: { name: SECRET_NAME } }],
};

/** The pod around one container: the image's `node` user, /tmp writable, spread out. */
function podSpec(
  component: string,
  container: IContainer,
  extra: Partial<IPodSpec> = {},
): IPodSpec {
  return {
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    automountServiceAccountToken: false,
    containers: [
      {
        ...container,
        image: IMAGE,
        imagePullPolicy: 'IfNotPresent',
        securityContext: restricted,
        volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
      },
    ],
    // Node's compile cache is all it might write: the root filesystem is read-only.
    volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }],
    topologySpreadConstraints: ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'].map(
      (topologyKey) => ({
        maxSkew: 1,
        topologyKey,
        whenUnsatisfiable: 'ScheduleAnyway' as const,
        labelSelector: { matchLabels: labels(component) },
      }),
    ),
    ...extra,
  };
}

const httpProbe = (path: string, port: string, probe: Partial<IProbe>): IProbe => ({
  httpGet: { path, port },
  ...probe,
});

/** A readiness check may take READINESS_TIMEOUT_MS; the probe waits a second longer. */
const readinessTimeoutSeconds = Math.ceil(ms('READINESS_TIMEOUT_MS') / 1000) + 1;

function apiDeployment(): Deployment {
  return new Deployment({
    metadata: metadata(`${NAME}-api`, 'api'),
    spec: {
      replicas: 2,
      revisionHistoryLimit: 5,
      selector: { matchLabels: labels('api') },
      // A new pod is ready before an old one goes: capacity never drops during a rollout.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: labels('api') },
        spec: podSpec(
          'api',
          {
            name: 'api',
            command: ['node', 'dist/server.js'],
            ports: [{ name: 'http', containerPort: Number(BASE_CONFIG.PORT) }],
            ...environment,
            startupProbe: httpProbe(livez.path, 'http', { periodSeconds: 2, failureThreshold: 30 }),
            livenessProbe: httpProbe(livez.path, 'http', {
              periodSeconds: 10,
              timeoutSeconds: 2,
              failureThreshold: 3,
            }),
            readinessProbe: httpProbe(readyz.path, 'http', {
              periodSeconds: 5,
              timeoutSeconds: readinessTimeoutSeconds,
              failureThreshold: 2,
            }),
            // Endpoints are removed while the pod is already stopping: keep serving that
            // long, then SIGTERM drains (answers say `Connection: close`).
            lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SECONDS } } },
            resources: {
              requests: { cpu: '250m', memory: '256Mi' },
              limits: { cpu: '1', memory: '512Mi' },
            },
          },
          { terminationGracePeriodSeconds: API_GRACE_SECONDS },
        ),
      },
    },
  });
}

function workerDeployment(): Deployment {
  return new Deployment({
    metadata: metadata(`${NAME}-worker`, 'worker'),
    spec: {
      replicas: 1,
      revisionHistoryLimit: 5,
      selector: { matchLabels: labels('worker') },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: labels('worker') },
        spec: podSpec(
          'worker',
          {
            name: 'worker',
            command: ['node', 'dist/worker.js'],
            ports: [{ name: 'health', containerPort: Number(BASE_CONFIG.WORKER_HEALTH_PORT) }],
            ...environment,
            startupProbe: httpProbe(WORKER_PROBES.live, 'health', {
              periodSeconds: 2,
              failureThreshold: 30,
            }),
            livenessProbe: httpProbe(WORKER_PROBES.live, 'health', {
              periodSeconds: 10,
              timeoutSeconds: 2,
              failureThreshold: 3,
            }),
            readinessProbe: httpProbe(WORKER_PROBES.ready, 'health', {
              periodSeconds: 10,
              timeoutSeconds: readinessTimeoutSeconds,
              failureThreshold: 3,
            }),
            resources: {
              requests: { cpu: '250m', memory: '256Mi' },
              limits: { cpu: '1', memory: '768Mi' },
            },
          },
          { terminationGracePeriodSeconds: WORKER_GRACE_SECONDS },
        ),
      },
    },
  });
}

/**
 * Migrations, once per release, before the new pods start: Argo CD runs it as a PreSync hook;
 * with kubectl, apply and wait for it first (README, Deploying).
 */
function migrationJob(): Job {
  return new Job({
    metadata: {
      ...metadata(`${NAME}-migrate`, 'migrate'),
      annotations: {
        'argocd.argoproj.io/hook': 'PreSync',
        'argocd.argoproj.io/hook-delete-policy': 'BeforeHookCreation',
      },
    },
    spec: {
      backoffLimit: 3,
      activeDeadlineSeconds: 600,
      ttlSecondsAfterFinished: 3600,
      template: {
        metadata: { labels: labels('migrate') },
        spec: {
          ...podSpec('migrate', {
            name: 'migrate',
            command: ['node', 'dist/migrate.js'],
            ...environment,
            resources: {
              requests: { cpu: '100m', memory: '128Mi' },
              limits: { cpu: '500m', memory: '256Mi' },
            },
          }),
          restartPolicy: 'Never',
          topologySpreadConstraints: [],
        },
      },
    },
  });
}

function services(): Service[] {
  return [
    new Service({
      metadata: metadata(`${NAME}-api`, 'api'),
      spec: {
        selector: labels('api'),
        ports: [{ name: 'http', port: 80, targetPort: 'http' }],
      },
    }),
    // For metrics scrapes of the workers (`/metrics` on the health port).
    new Service({
      metadata: metadata(`${NAME}-worker`, 'worker'),
      spec: {
        selector: labels('worker'),
        ports: [
          { name: 'health', port: Number(BASE_CONFIG.WORKER_HEALTH_PORT), targetPort: 'health' },
        ],
      },
    }),
  ];
}

function ingress(): Ingress {
  return new Ingress({
    metadata: {
      ...metadata(`${NAME}-api`, 'api'),
      annotations: {
        // Job event streams (SSE) and streamed AI answers: no buffering, long reads.
        'nginx.ingress.kubernetes.io/proxy-buffering': 'off',
        'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
        'nginx.ingress.kubernetes.io/proxy-body-size': '16m',
      },
    },
    spec: {
      ingressClassName: 'nginx',
      rules: [
        {
          host: 'api.example.com',
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                backend: { service: { name: `${NAME}-api`, port: { name: 'http' } } },
              },
            ],
          },
        },
      ],
    },
  });
}

function disruptionBudgets(): PodDisruptionBudget[] {
  return [
    new PodDisruptionBudget({
      metadata: metadata(`${NAME}-api`, 'api'),
      spec: { minAvailable: 1, selector: { matchLabels: labels('api') } },
    }),
    new PodDisruptionBudget({
      metadata: metadata(`${NAME}-worker`, 'worker'),
      spec: { maxUnavailable: 1, selector: { matchLabels: labels('worker') } },
    }),
  ];
}

function apiAutoscaler(): HorizontalPodAutoscaler {
  return new HorizontalPodAutoscaler({
    metadata: metadata(`${NAME}-api`, 'api'),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: `${NAME}-api` },
      minReplicas: 2,
      maxReplicas: 10,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
      ],
      behavior: {
        scaleDown: {
          stabilizationWindowSeconds: 300,
          policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }],
        },
      },
    },
  });
}

/** The BullMQ list of a queue's waiting jobs, under the base's `REDIS_KEY_PREFIX`. */
export function waitListOf(jobName: string, cluster = false): string {
  return `${bullmqPrefix(settingValue('REDIS_KEY_PREFIX', BASE_CONFIG), cluster)}:${jobName}:wait`;
}

/**
 * Workers scale on queue depth with KEDA's Redis scaler: one trigger per queue, its target
 * the job's own concurrency (jobs one worker takes at once), so a queue waiting for more than
 * its workers take adds one. The scaler reads Redis through `TriggerAuthentication`, from a
 * Secret of its own (`address` as host:port, `password`): KEDA takes no redis:// URL.
 */
function workerScaling(): [TriggerAuthentication, ScaledObject] {
  return [
    new TriggerAuthentication({
      metadata: metadata(`${NAME}-redis`, 'worker'),
      spec: {
        secretTargetRef: [
          { parameter: 'address', name: KEDA_SECRET_NAME, key: 'address' },
          { parameter: 'password', name: KEDA_SECRET_NAME, key: 'password' },
        ],
      },
    }),
    new ScaledObject({
      metadata: metadata(`${NAME}-worker`, 'worker'),
      spec: {
        scaleTargetRef: { name: `${NAME}-worker` },
        minReplicaCount: 1,
        maxReplicaCount: 10,
        pollingInterval: 15,
        cooldownPeriod: 300,
        triggers: JOBS.filter((job) => !job.schedule).map((job) => ({
          type: 'redis',
          name: job.name.replaceAll('.', '-'),
          metadata: {
            listName: waitListOf(job.name),
            listLength: String(job.concurrency),
          },
          authenticationRef: { name: `${NAME}-redis` },
        })),
      },
    }),
  ];
}

/**
 * Pods answer the ingress controller (the API) and metrics scrapers (the API's `/metrics` on
 * its HTTP port, the worker's on its health port), and talk out to DNS, PostgreSQL,
 * PgBouncer, Redis and HTTPS (the AI upstream, OTLP); nothing else.
 */
function networkPolicies(): NetworkPolicy[] {
  const egress: INetworkPolicyEgressRule[] = [
    {
      ports: [
        { protocol: 'UDP', port: 53 },
        ...[53, 5432, 6432, 6379, 443, 4318].map((port) => ({ protocol: 'TCP' as const, port })),
      ],
    },
  ];
  return [
    new NetworkPolicy({
      metadata: metadata(`${NAME}-api`, 'api'),
      spec: {
        podSelector: { matchLabels: labels('api') },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          {
            from: [INGRESS_NAMESPACE, METRICS_NAMESPACE].map((namespace) => ({
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
            })),
            ports: [{ protocol: 'TCP', port: 'http' }],
          },
        ],
        egress,
      },
    }),
    new NetworkPolicy({
      metadata: metadata(`${NAME}-worker`, 'worker'),
      spec: {
        podSelector: { matchLabels: labels('worker') },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          {
            from: [
              {
                namespaceSelector: {
                  matchLabels: { 'kubernetes.io/metadata.name': METRICS_NAMESPACE },
                },
              },
            ],
            ports: [{ protocol: 'TCP', port: 'health' }],
          },
        ],
        egress,
      },
    }),
    new NetworkPolicy({
      metadata: metadata(`${NAME}-migrate`, 'migrate'),
      spec: {
        podSelector: { matchLabels: labels('migrate') },
        policyTypes: ['Ingress', 'Egress'],
        egress: [
          {
            ports: [
              { protocol: 'UDP', port: 53 },
              { protocol: 'TCP', port: 53 },
              { protocol: 'TCP', port: 5432 },
            ],
          },
        ],
      },
    }),
  ];
}

function configMap(): ConfigMap {
  for (const name of Object.keys(BASE_CONFIG) as SettingName[]) {
    if (isSecretSetting(name)) throw new Error(`${name} is a secret: not in the ConfigMap`);
  }
  return new ConfigMap({ metadata: metadata(CONFIG_NAME, 'config'), data: { ...BASE_CONFIG } });
}

/** Every object of the base, in the order they are written. */
export function baseObjects(): Model<unknown>[] {
  return [
    configMap(),
    migrationJob(),
    apiDeployment(),
    workerDeployment(),
    ...services(),
    ingress(),
    ...disruptionBudgets(),
    apiAutoscaler(),
    ...workerScaling(),
    ...networkPolicies(),
  ];
}

/** A Secret of the service's secret settings (`stringData`): refused for any other. */
export function settingsSecret(values: Partial<Record<SettingName, string>>): Secret {
  for (const name of Object.keys(values) as SettingName[]) {
    if (!isSecretSetting(name)) throw new Error(`${name} is not a secret: put it in the ConfigMap`);
  }
  const stringData: Record<string, string> = {};
  for (const [name, value] of Object.entries(values))
    if (value !== undefined) stringData[name] = value;
  return new Secret({ metadata: metadata(SECRET_NAME, 'config'), type: 'Opaque', stringData });
}
