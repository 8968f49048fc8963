/**
 * Tenant isolation inside Temporal, played by a hostile tenant: workspace A holds only its own
 * Runner's key file and the Temporal address, and tries to make workspace B's Runner work for it.
 * Payloads are bound to their workspace and workflow (common/codec.ts, format v2) and `runTask`
 * takes what to run from PostgreSQL, not from its input.
 */
import { randomUUID } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { BINDING_METADATA, CodecError, WorkspaceCodec } from '../common/codec';
import { ExecutionPolicy } from '../common/contracts';
import { lookoutDataConverter } from '../common/data-converter';
import { runWorkflowId } from '../common/ids';
import { StaticKeyring, type Keyring } from '../common/keyring';
import { exportRunnerKeyFile } from '../platform/crypto/platform-keyring';
import { getRun, insertRun } from '../platform/repos/runs.repo';
import { api, env, newWorkspace, runTaskViaApi, startHttpServer, startPlatform, startRunner, type TestPlatform } from './harness/env';
import { loopbackBinding } from './harness/policy';

/** What a hostile tenant's codec does: encrypt under its own workspace's key, whatever workflow it writes to. */
function forgingKeyring(own: Keyring, workspaceId: string): Keyring {
  return { activeKey: () => own.activeKey(workspaceId), keyById: (id) => own.keyById(id) };
}

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startPlatform();
}, 120_000);
afterAll(async () => {
  await platform?.stop();
});

describe('payloads bound to their workspace and workflow', () => {
  const payload = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
  let a: { workspaceId: string; keyring: StaticKeyring };
  let b: { workspaceId: string; keyring: StaticKeyring };
  beforeAll(async () => {
    const wa = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const wb = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    a = {
      workspaceId: wa.workspaceId,
      keyring: new StaticKeyring(await exportRunnerKeyFile(platform.pool, platform.crypto.master, wa.workspaceId)),
    };
    b = {
      workspaceId: wb.workspaceId,
      keyring: new StaticKeyring(await exportRunnerKeyFile(platform.pool, platform.crypto.master, wb.workspaceId)),
    };
  });
  const ctx = (workflowId: string) => ({ type: 'workflow' as const, namespace: 'default', workflowId });

  it('decodes a payload in the workflow it was written for, and refuses it in another of the same workspace', async () => {
    const codec = new WorkspaceCodec(b.keyring);
    const w1 = runWorkflowId(b.workspaceId, randomUUID());
    const w2 = runWorkflowId(b.workspaceId, randomUUID());
    const [sealed] = await codec.encode([payload({ url: 'https://old.example/' })], ctx(w1));
    expect(Buffer.from(sealed!.metadata![BINDING_METADATA]!).toString()).toBe(w1);
    expect(defaultPayloadConverter.fromPayload((await codec.decode([sealed!], ctx(w1)))[0]!)).toEqual({ url: 'https://old.example/' });
    await expect(codec.decode([sealed!], ctx(w2))).rejects.toThrow(new CodecError(`payload bound to workflow ${w1}, not to ${w2}`));
    // Relabelling the binding does not help: it is authenticated with the ciphertext.
    const relabelled = { ...sealed!, metadata: { ...sealed!.metadata, [BINDING_METADATA]: Buffer.from(w2) } };
    await expect(codec.decode([relabelled], ctx(w2))).rejects.toThrow(/failed authentication/);
    const stripped = {
      ...sealed!,
      metadata: Object.fromEntries(Object.entries(sealed!.metadata!).filter(([k]) => k !== BINDING_METADATA)),
    };
    await expect(codec.decode([stripped], ctx(w2))).rejects.toThrow(/failed authentication/);
  });

  it("refuses a payload under one workspace's key in another workspace's workflow, and tells the operator", async () => {
    const refusals: { workflowId: string; reason: string }[] = [];
    const platformSide = new WorkspaceCodec(platform.crypto.payloadKeys, (r) => refusals.push(r));
    const target = runWorkflowId(b.workspaceId, randomUUID());
    // Tenant A writes for B's workflow with the only keys it has.
    const [forged] = await new WorkspaceCodec(forgingKeyring(a.keyring, a.workspaceId)).encode([payload({ runId: 'x' })], ctx(target));
    await expect(platformSide.decode([forged!], ctx(target))).rejects.toThrow(/belongs to another workspace than workflow/);
    expect(refusals).toEqual([{ workflowId: target, reason: expect.stringMatching(/another workspace/) }]);
  });

  it("accepts a schedule's payloads in the runs it starts (<id>-<start time>) and nowhere else", async () => {
    const codec = new WorkspaceCodec(b.keyring);
    const base = `ws-${b.workspaceId}.sched-${randomUUID()}`;
    const [sealed] = await codec.encode([payload({ taskId: 't' })], ctx(base));
    await expect(codec.decode([sealed!], ctx(`${base}-2026-12-02T06:50:30Z`))).resolves.toHaveLength(1);
    await expect(codec.decode([sealed!], ctx(`${base}-other`))).rejects.toThrow(/bound to workflow .*, not to/);
  });

  it('still decodes the former format (key id only) for histories written before, but only in its own workspace', async () => {
    const codec = new WorkspaceCodec(b.keyring);
    const [v1] = await codec.encode([payload('history')], undefined);
    expect(v1!.metadata![BINDING_METADATA]).toBeUndefined();
    await expect(codec.decode([v1!], ctx(runWorkflowId(b.workspaceId, randomUUID())))).resolves.toHaveLength(1);
    const platformSide = new WorkspaceCodec(platform.crypto.payloadKeys);
    await expect(platformSide.decode([v1!], ctx(runWorkflowId(a.workspaceId, randomUUID())))).rejects.toThrow(/another workspace/);
  });
});

describe('a hostile tenant with its own Runner credentials', () => {
  it("cannot make another workspace's Runner run anything: nothing reaches the target, B's run is untouched, the attempt is audited", async () => {
    // B's Runner may send B's token to B's endpoint; the attacker wants it sent to its collector.
    let collected = 0;
    const collector = net.createServer((s) => {
      collected += 1;
      s.destroy();
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/steal`;
    const target = await startHttpServer((_req, res) => res.writeHead(200).end('ok'));
    const wa = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const wb = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
    const runnerB = await startRunner(platform, wb, {
      env: { B_TOKEN: 'b-token-value-0123456789' },
      policy: { secretBindings: [loopbackBinding('b-token', 'env:B_TOKEN')] },
    });
    const connection = await Connection.connect({ address: env.temporalAddress });
    try {
      const legit = await runTaskViaApi(platform, wb, wb.taskId);
      expect(legit['status']).toBe('succeeded');
      const runId = String(legit['id']);
      // Its workflow closes right after the run is recorded finished.
      await (await platform.clientFor(wb.workspaceId)).workflow.getHandle(runWorkflowId(wb.workspaceId, runId)).result();
      const before = await getRun(platform.pool, runId);

      // Tenant A: A's key file and the Temporal address, nothing else.
      const aKeys = new StaticKeyring(await exportRunnerKeyFile(platform.pool, platform.crypto.master, wa.workspaceId));
      // The dev server has no authorizer: the address alone opens B's namespace (the authorizing server's matrix shows it does not there).
      const tenantA = new Client({
        connection,
        namespace: wb.temporalNamespace!,
        dataConverter: lookoutDataConverter(forgingKeyring(aKeys, wa.workspaceId)),
      });
      const workflowId = runWorkflowId(wb.workspaceId, runId);
      const forged = await tenantA.workflow.start('runTask', {
        taskQueue: platform.taskQueue,
        workflowId,
        args: [
          {
            runId,
            workspaceId: wb.workspaceId,
            taskId: wb.taskId,
            runnerId: wb.runnerId,
            checkType: 'http.probe',
            params: { url: collectorUrl, auth: { binding: 'b-token' } },
            policy: ExecutionPolicy.parse({ maxAttempts: 1 }),
          },
        ],
      });
      // The platform worker cannot read A's payload as B's: the workflow task fails, nothing is scheduled.
      const audit = async () =>
        (
          await platform.pool.query<{ details: { reason: string } }>(
            "select details from audit_events where workspace_id = $1 and action = 'payload.refused'",
            [wb.workspaceId],
          )
        ).rows;
      const until = Date.now() + 20_000;
      while ((await audit()).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      expect((await audit())[0]?.details.reason).toMatch(/belongs to another workspace than workflow/);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(collected).toBe(0);
      const history = await tenantA.workflow.getHandle(workflowId, forged.firstExecutionRunId).fetchHistory();
      expect(history.events?.some((e) => e.activityTaskScheduledEventAttributes)).toBe(false);
      // B's run is as it was.
      expect(await getRun(platform.pool, runId)).toEqual(before);
      const view = await api(platform.baseUrl, 'GET', `/v1/runs/${runId}`, { token: wb.token });
      expect(view.body).toMatchObject({ status: 'succeeded', attempt: 1 });
      // The platform worker reported the refused task (under its internal key) and kept working.
      expect((await runTaskViaApi(platform, wb, wb.taskId))['status']).toBe('succeeded');
      await forged.terminate('test cleanup').catch(() => undefined);
    } finally {
      await connection.close();
      await runnerB.stop();
      await target.stop();
      collector.close();
    }
  });

  it("cannot start a workflow of its own for another workspace's run: the run is recorded for another workflow", async () => {
    const wb = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const runnerB = await startRunner(platform, wb, {});
    try {
      const legit = await runTaskViaApi(platform, wb, wb.taskId);
      const runId = String(legit['id']);
      // Even with B's own keys (a copied key file), a workflow under another id is refused by the Platform.
      const other = `ws-${wb.workspaceId}.run-${randomUUID()}`;
      const handle = await (
        await platform.clientFor(wb.workspaceId)
      ).workflow.start('runTask', {
        taskQueue: platform.taskQueue,
        workflowId: other,
        args: [
          {
            runId,
            workspaceId: wb.workspaceId,
            taskId: wb.taskId,
            runnerId: wb.runnerId,
            checkType: 'http.probe',
            params: {},
            policy: ExecutionPolicy.parse({}),
          },
        ],
      });
      await expect(handle.result()).rejects.toThrow();
      const refused = await platform.pool.query(
        "select details from audit_events where workspace_id = $1 and action = 'run.start_refused'",
        [wb.workspaceId],
      );
      expect(refused.rows).toHaveLength(0); // the workflow itself refused first: its id names another run
      const same = runWorkflowId(wb.workspaceId, runId);
      // A run id that the workflow id does name, but recorded for another workflow (a sweep's child, say).
      const { rows } = await platform.pool.query<{ workflow_id: string }>(
        'update runs set workflow_id = $2 where id = $1 returning workflow_id',
        [runId, `${same}.moved`],
      );
      expect(rows[0]?.workflow_id).toBe(`${same}.moved`);
      const again = await (
        await platform.clientFor(wb.workspaceId)
      ).workflow.start('runTask', {
        taskQueue: platform.taskQueue,
        workflowId: same,
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        args: [
          {
            runId,
            workspaceId: wb.workspaceId,
            taskId: wb.taskId,
            runnerId: wb.runnerId,
            checkType: 'http.probe',
            params: {},
            policy: ExecutionPolicy.parse({}),
          },
        ],
      });
      await expect(again.result()).rejects.toThrow();
      const audited = await platform.pool.query<{ details: Record<string, unknown> }>(
        "select details from audit_events where workspace_id = $1 and action = 'run.start_refused'",
        [wb.workspaceId],
      );
      expect(audited.rows[0]?.details).toEqual({ reason: 'workflow_mismatch', sameWorkspace: true });
    } finally {
      await runnerB.stop();
    }
  });

  it("cannot act for another workspace from its own namespace, even with that workspace's keys: the platform worker refuses it", async () => {
    let collected = 0;
    const collector = net.createServer((c) => {
      collected += 1;
      c.destroy();
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/steal`;
    const wa = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const wb = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    expect(wa.temporalNamespace).toMatch(/^lookout-/);
    expect(wb.temporalNamespace).not.toBe(wa.temporalNamespace);
    const runnerB = await startRunner(platform, wb, {});
    try {
      // B's run, recorded as the API records it, and B's keys (a copied key file): only the namespace is A's.
      const runId = randomUUID();
      const workflowId = runWorkflowId(wb.workspaceId, runId);
      await insertRun(platform.pool, {
        id: runId,
        workspaceId: wb.workspaceId,
        taskId: wb.taskId,
        runnerId: wb.runnerId,
        checkType: 'http.probe',
        trigger: 'api',
        requestedBy: 'test',
        workflowId,
        temporalNamespace: wb.temporalNamespace,
      });
      const inA = platform.temporal.forNamespace(wa.temporalNamespace!);
      const forged = await inA.workflow.start('runTask', {
        taskQueue: platform.taskQueue,
        workflowId,
        args: [
          {
            runId,
            workspaceId: wb.workspaceId,
            taskId: wb.taskId,
            runnerId: wb.runnerId,
            checkType: 'http.probe',
            params: { url: collectorUrl },
            policy: ExecutionPolicy.parse({ maxAttempts: 1 }),
          },
        ],
      });
      await expect(forged.result()).rejects.toThrow();
      const history = await forged.fetchHistory();
      // The Platform's first step is a local activity (issue 17): its failure is in its marker.
      const failures = (history.events ?? []).flatMap(
        (e) => e.activityTaskFailedEventAttributes?.failure ?? e.markerRecordedEventAttributes?.failure ?? [],
      );
      expect(failures[0]?.applicationFailureInfo?.type).toBe('NamespaceMismatch');
      expect((history.events ?? []).some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'executeCheck')).toBe(false);
      expect(collected).toBe(0);
      // B's run was never touched, and B's audit chain names the attempt.
      expect((await getRun(platform.pool, runId))?.status).toBe('queued');
      const audited = await platform.pool.query<{ details: Record<string, unknown> }>(
        "select details from audit_events where workspace_id = $1 and action = 'workflow.namespace_refused'",
        [wb.workspaceId],
      );
      expect(audited.rows[0]?.details).toEqual({ namespace: wa.temporalNamespace, activity: 'beginRun' });
    } finally {
      await runnerB.stop();
      collector.close();
    }
  });
});

describe("a tenant starting the Platform's own workflows in its namespace, for another workspace", () => {
  /** The failure types of the activities a workflow's history records (scheduled or local). */
  async function failureTypes(handle: { fetchHistory(): Promise<{ events?: unknown[] | null }> }): Promise<(string | undefined)[]> {
    const history = await handle.fetchHistory();
    type Event = {
      activityTaskFailedEventAttributes?: { failure?: { applicationFailureInfo?: { type?: string } } };
      markerRecordedEventAttributes?: { failure?: { applicationFailureInfo?: { type?: string } } };
    };
    return ((history.events ?? []) as Event[]).flatMap((e) => {
      const failure = e.activityTaskFailedEventAttributes?.failure ?? e.markerRecordedEventAttributes?.failure;
      return failure ? [failure.applicationFailureInfo?.type] : [];
    });
  }

  it("cannot sweep another workspace's Runner under its own workflow id: refused before B's tasks are read", async () => {
    const wa = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const canary = `http://127.0.0.1:9/canary-${randomUUID()}`;
    const wb = await newWorkspace(platform, { probeUrl: canary });
    const sweepId = randomUUID();
    const inA = platform.temporal.forNamespace(wa.temporalNamespace!);
    const forged = await inA.workflow.start('healthSweep', {
      taskQueue: platform.taskQueue,
      workflowId: `ws-${wa.workspaceId}.sweep-${sweepId}`,
      args: [{ sweepId, workspaceId: wb.workspaceId, runnerId: wb.runnerId, requestedBy: 'tenant-a' }],
    });
    await expect(forged.result()).rejects.toThrow();
    expect(await failureTypes(forged)).toEqual(['NamespaceMismatch']);
    // No sweep and no run was recorded for B, and B's task (its probe URL) never reached A's history.
    expect((await platform.pool.query('select 1 from sweeps where id = $1', [sweepId])).rowCount).toBe(0);
    expect((await platform.pool.query('select 1 from runs where workspace_id = $1', [wb.workspaceId])).rowCount).toBe(0);
    const decoded = JSON.stringify(await forged.fetchHistory());
    expect(decoded).not.toContain(canary.slice(-36));
  });

  it("cannot deliver another workspace's notifications: under its own workflow id or under B's, the sink's activities refuse", async () => {
    const wa = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const wb = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const made = await api(platform.baseUrl, 'POST', `/v1/workspaces/${wb.workspaceId}/sinks`, {
      token: wb.token,
      body: { name: 'b-sink', target: { kind: 'webhook', url: 'https://sink.lookout.invalid/hook' }, maxSeverity: 2 },
    });
    expect(made.status).toBe(201);
    const sinkId = String(made.body['id']);
    const inA = platform.temporal.forNamespace(wa.temporalNamespace!);
    for (const workflowId of [`ws-${wa.workspaceId}.sink-${sinkId}`, `ws-${wb.workspaceId}.sink-${sinkId}`]) {
      const forged = await inA.workflow.start('sinkDelivery', {
        taskQueue: platform.taskQueue,
        workflowId,
        args: [{ workspaceId: wb.workspaceId, sinkId }],
      });
      await expect(forged.result()).rejects.toThrow();
      expect(await failureTypes(forged)).toEqual(['NamespaceMismatch']);
    }
    // B's sink delivered nothing and owes nothing because of it.
    expect((await platform.pool.query('select 1 from notifications where sink_id = $1', [sinkId])).rowCount).toBe(0);
  });
});
