/**
 * The two overlays over the base: development (one replica of each, PostgreSQL and Redis in
 * the namespace, a Secret with development values) and production (more replicas, TLS, the
 * pooler setting; its Secret is made out of band, never committed).
 */
import type { Model } from '@kubernetes-models/base';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Secret, Service } from 'kubernetes-models/v1';
import packageJson from '../../package.json' with { type: 'json' };
import { IMAGE, KEDA_SECRET_NAME, NAME, settingsSecret } from './manifests.ts';

/** One RFC 6902 operation, as kustomize's `patches` take them. */
export interface PatchOperation {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

export interface Patch {
  /** What it applies to: a base object's kind and name. */
  target: { kind: string; name: string };
  /** The file under the overlay's `patches/`, without `.yaml`. */
  file: string;
  operations: PatchOperation[];
}

export interface Overlay {
  name: 'dev' | 'prod';
  /** What the overlay is for, written at the top of its kustomization. */
  about: string;
  namespace: string;
  image: { newName: string; newTag: string };
  /** Objects of its own, by file name (without `.yaml`). */
  resources: Record<string, Model<unknown>[]>;
  patches: Patch[];
}

const replace = (path: string, value: unknown): PatchOperation => ({ op: 'replace', path, value });
const add = (path: string, value: unknown): PatchOperation => ({ op: 'add', path, value });

/** A single-replica service in the namespace, for development only (data in an emptyDir). */
function devService(
  name: string,
  image: string,
  port: number,
  extra: { env?: Record<string, string>; args?: string[] } = {},
): Model<unknown>[] {
  const labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': NAME };
  return [
    new Deployment({
      metadata: { name, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        strategy: { type: 'Recreate' },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name,
                image,
                ports: [{ name: 'service', containerPort: port }],
                ...(extra.args ? { args: extra.args } : {}),
                ...(extra.env
                  ? { env: Object.entries(extra.env).map(([key, value]) => ({ name: key, value })) }
                  : {}),
                securityContext: { allowPrivilegeEscalation: false },
                volumeMounts: [{ name: 'data', mountPath: '/data' }],
              },
            ],
            volumes: [{ name: 'data', emptyDir: {} }],
          },
        },
      },
    }),
    new Service({
      metadata: { name, labels },
      spec: { selector: labels, ports: [{ name: 'service', port, targetPort: 'service' }] },
    }),
  ];
}

export const OVERLAYS: Overlay[] = [
  {
    name: 'dev',
    about:
      'Development: kubectl apply -k deploy/kubernetes/overlays/dev (an image built as hono-service-template:dev, e.g. loaded into kind).',
    namespace: 'hono-dev',
    image: { newName: IMAGE, newTag: 'dev' },
    resources: {
      postgres: devService('postgres', 'pgvector/pgvector:pg17', 5432, {
        env: {
          POSTGRES_USER: 'app',
          POSTGRES_PASSWORD: 'app',
          POSTGRES_DB: 'app',
          PGDATA: '/data/pgdata',
        },
      }),
      redis: devService('redis', 'redis:7', 6379, {
        args: ['--maxmemory-policy', 'noeviction', '--dir', '/data'],
      }),
      secrets: [
        settingsSecret({
          DATABASE_URL: 'postgres://app:app@postgres:5432/app',
          REDIS_URL: 'redis://redis:6379',
          JWT_SECRET: 'development-cluster-only-secret-0123456789abcdef',
        }),
        new Secret({
          metadata: { name: KEDA_SECRET_NAME },
          type: 'Opaque',
          stringData: { address: 'redis:6379', password: '' },
        }),
      ],
    },
    patches: [
      {
        target: { kind: 'Deployment', name: `${NAME}-api` },
        file: 'api-replicas',
        operations: [replace('/spec/replicas', 1)],
      },
      {
        target: { kind: 'HorizontalPodAutoscaler', name: `${NAME}-api` },
        file: 'api-autoscaler',
        operations: [replace('/spec/minReplicas', 1), replace('/spec/maxReplicas', 2)],
      },
      {
        target: { kind: 'PodDisruptionBudget', name: `${NAME}-api` },
        file: 'api-disruption-budget',
        // One replica: a budget of one would block every node drain.
        operations: [replace('/spec/minAvailable', 0)],
      },
      {
        target: { kind: 'ScaledObject', name: `${NAME}-worker` },
        file: 'worker-scaling',
        operations: [replace('/spec/maxReplicaCount', 2)],
      },
      {
        target: { kind: 'ConfigMap', name: `${NAME}-config` },
        file: 'config',
        operations: [replace('/data/LOG_LEVEL', 'debug')],
      },
      {
        target: { kind: 'Ingress', name: `${NAME}-api` },
        file: 'ingress',
        operations: [replace('/spec/rules/0/host', 'hono.localtest.me')],
      },
    ],
  },
  {
    name: 'prod',
    about:
      'Production: create the Secrets first (README, Deploying), run the migration Job, then kubectl apply -k deploy/kubernetes/overlays/prod.',
    namespace: 'hono',
    image: { newName: `ghcr.io/example/${IMAGE}`, newTag: packageJson.version },
    resources: {},
    patches: [
      {
        target: { kind: 'Deployment', name: `${NAME}-api` },
        file: 'api',
        operations: [
          replace('/spec/replicas', 3),
          replace('/spec/template/spec/containers/0/resources/requests/cpu', '500m'),
          replace('/spec/template/spec/containers/0/resources/requests/memory', '384Mi'),
        ],
      },
      {
        target: { kind: 'Deployment', name: `${NAME}-worker` },
        file: 'worker',
        operations: [replace('/spec/replicas', 2)],
      },
      {
        target: { kind: 'HorizontalPodAutoscaler', name: `${NAME}-api` },
        file: 'api-autoscaler',
        operations: [replace('/spec/minReplicas', 3), replace('/spec/maxReplicas', 20)],
      },
      {
        target: { kind: 'ScaledObject', name: `${NAME}-worker` },
        file: 'worker-scaling',
        operations: [replace('/spec/minReplicaCount', 2), replace('/spec/maxReplicaCount', 20)],
      },
      {
        target: { kind: 'ConfigMap', name: `${NAME}-config` },
        file: 'config',
        // DATABASE_URL names PgBouncer (transaction mode), DATABASE_DIRECT_URL PostgreSQL.
        operations: [add('/data/DATABASE_POOLER', 'transaction')],
      },
      {
        target: { kind: 'Ingress', name: `${NAME}-api` },
        file: 'ingress',
        operations: [
          add('/metadata/annotations/cert-manager.io~1cluster-issuer', 'letsencrypt'),
          add('/spec/tls', [{ hosts: ['api.example.com'], secretName: `${NAME}-tls` }]),
        ],
      },
    ],
  },
];
