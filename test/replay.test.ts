/**
 * Determinism: histories of runTask recorded from real runs (encrypted with a test key committed
 * beside them) are replayed against the current workflow code, as they would be after a deploy.
 * An incompatible change of the workflow fails this test. Record again with
 * LOOKOUT_RECORD_HISTORIES=1 npm test -- test/replay.test.ts after an intended, patched change.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH, lookoutDataConverter } from '../common/data-converter';
import { runWorkflowId } from '../common/ids';
import { StaticKeyring, type KeyFile } from '../common/keyring';
import { exportRunnerKeyFile } from '../platform/crypto/platform-keyring';
import { addTask, api, env, newWorkspace, runTaskViaApi, startHttpServer, startPlatform, startRunner } from './harness/env';

const dir = path.join(__dirname, 'fixtures', 'histories');
const silent = new DefaultLogger('ERROR');

function fixtures(): { keyring: StaticKeyring; histories: { workflowId: string; history: unknown }[] } {
  const keyring = new StaticKeyring(JSON.parse(readFileSync(path.join(dir, 'test-keys.json'), 'utf8')) as KeyFile);
  const histories = readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'test-keys.json')
    .sort()
    .map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: historyFromJSON(JSON.parse(readFileSync(path.join(dir, f), 'utf8'))) }));
  return { keyring, histories };
}

if (process.env['LOOKOUT_RECORD_HISTORIES'] === '1') {
  it('records runTask histories', async () => {
    const platform = await startPlatform();
    const target = await startHttpServer((req, res) => res.writeHead(req.url === '/down' ? 503 : 200).end('x'));
    try {
      const ws = await newWorkspace(platform, { probeUrl: `${target.url}/ok`, policy: { scheduleToStartMs: 1_000 } });
      writeFileSync(
        path.join(dir, 'test-keys.json'),
        `${JSON.stringify(await exportRunnerKeyFile(platform.pool, platform.crypto.master, ws.workspaceId), null, 2)}\n`,
      );
      const runs: Record<string, string> = {};
      runs['runner-unavailable'] = String((await runTaskViaApi(platform, ws, ws.taskId))['id']);
      const runner = await startRunner(platform, ws, { env: {} });
      try {
        runs['ok'] = String((await runTaskViaApi(platform, ws, ws.taskId))['id']);
        runs['issues'] = String(
          (await runTaskViaApi(platform, ws, await addTask(platform, ws, 'http.probe', { url: `${target.url}/down` })))['id'],
        );
        runs['secret-missing'] = String(
          (
            await runTaskViaApi(
              platform,
              ws,
              await addTask(platform, ws, 'http.probe', {
                url: `${target.url}/ok`,
                auth: { header: 'X-Token', scheme: '', secretRef: 'env:MISSING' },
              }),
            )
          )['id'],
        );
      } finally {
        await runner.stop();
      }
      for (const [name, runId] of Object.entries(runs)) {
        const history = await (
          await platform.clientFor(ws.workspaceId)
        ).workflow
          .getHandle(runWorkflowId(ws.workspaceId, runId))
          .fetchHistory();
        writeFileSync(path.join(dir, `runTask-${name}.json`), `${historyToJSON(history)}\n`);
      }
      // The schedule path: a schedule triggered once starts scheduledRunTask.
      const schedRunner = await startRunner(platform, ws, { env: {} });
      try {
        const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules`, {
          token: ws.token,
          body: { taskId: ws.taskId, spec: { cron: ['0 3 * * *'] } },
        });
        await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules/${String(created.body['id'])}/trigger`, {
          token: ws.token,
        });
        let workflowId: string | undefined;
        for (let i = 0; i < 100 && !workflowId; i++) {
          const { rows } = await platform.pool.query<{ workflow_id: string; status: string }>(
            'select workflow_id, status from runs where schedule_id = $1',
            [created.body['id']],
          );
          if (rows[0]?.status === 'succeeded') workflowId = rows[0].workflow_id;
          else await new Promise((r) => setTimeout(r, 200));
        }
        const handle = (await platform.clientFor(ws.workspaceId)).workflow.getHandle(workflowId!);
        await handle.result();
        writeFileSync(path.join(dir, 'scheduledRunTask-ok.json'), `${historyToJSON(await handle.fetchHistory())}\n`);
        // A health sweep over the Runner's tasks.
        const started = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/sweeps`, {
          token: ws.token,
          body: { runnerId: ws.runnerId },
        });
        const sweepHandle = (await platform.clientFor(ws.workspaceId)).workflow.getHandle(
          `ws-${ws.workspaceId}.sweep-${String(started.body['id'])}`,
        );
        await sweepHandle.result();
        writeFileSync(path.join(dir, 'healthSweep-ok.json'), `${historyToJSON(await sweepHandle.fetchHistory())}\n`);
      } finally {
        await schedRunner.stop();
      }
    } finally {
      await target.stop();
      await platform.stop();
    }
  });
} else {
  describe('replay of committed histories', () => {
    it('replays every committed runTask history against the current workflow code', async () => {
      const { keyring, histories } = fixtures();
      expect(histories.map((h) => h.workflowId.split('-')[0]).sort()).toEqual(
        expect.arrayContaining(['healthSweep', 'runTask', 'scheduledRunTask']),
      );
      const results = Worker.runReplayHistories(
        {
          workflowBundle: { code: readFileSync(env.bundlePath, 'utf8') },
          dataConverter: lookoutDataConverter(keyring),
          replayName: 'lookout-replay',
        },
        histories,
      );
      const errors: string[] = [];
      for await (const r of results) if (r.error) errors.push(`${r.workflowId}: ${r.error.message}`);
      expect(errors).toEqual([]);
    });

    it('fails when runTask is changed incompatibly', async () => {
      const { keyring, histories } = fixtures();
      const bundle = await bundleWorkflowCode({
        workflowsPath: require.resolve('./fixtures/incompatible-workflows'),
        failureConverterPath: FAILURE_CONVERTER_PATH,
        logger: silent,
      });
      const results = Worker.runReplayHistories(
        { workflowBundle: bundle, dataConverter: lookoutDataConverter(keyring), replayName: 'lookout-replay-bad' },
        histories.filter((h) => h.workflowId === 'runTask-ok'),
      );
      const errors: string[] = [];
      for await (const r of results) if (r.error) errors.push(r.error.name);
      expect(errors).toEqual(['DeterminismViolationError']);
    });
  });
}
