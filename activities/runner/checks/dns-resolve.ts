/**
 * `dns.resolve`: looks a name up at the Runner's DNS servers (LOOKOUT_DNS_SERVERS, else those of its
 * /etc/resolv.conf) and compares the answer with what the task expects. A name that does not
 * resolve, a server that fails or does not answer, or an unexpected answer is a result with issues.
 *
 * Only names a destination of the Runner policy covers are looked up: the Runner refuses any other
 * before a query is sent, since a query carries its name to the DNS servers and beyond.
 *
 * What leaves the Runner: whether the name resolved, the resolver's error code, record counts and
 * TTLs, how many of the expected values were in the answer and how many other values were. The
 * answer itself (addresses, target names, TXT strings) maps the customer's network and does not
 * leave, except in an issue's raw `details`, which the boundary drops unless the Runner policy's
 * `rawData` allows `dns.resolve`.
 */
import ipaddr from 'ipaddr.js';
import { DnsResolveParams, type DnsRecordType } from '../../../common/checks';
import type { Issue } from '../../../common/contracts';
import { FailureType } from '../../../common/errors';
import { scoreOf } from '../../../common/score';
import type { DnsAnswer } from '../policy';
import type { Check, CheckOutcome } from './check';
import { ApplicationFailure } from '@temporalio/activity';

const isPolicyDenied = (err: unknown) => err instanceof ApplicationFailure && err.type === FailureType.PolicyDenied;

/** What the values of a record type are called in findings. */
const NOUN: Record<DnsRecordType, [one: string, many: string]> = {
  A: ['address', 'addresses'],
  AAAA: ['address', 'addresses'],
  CNAME: ['name', 'names'],
  MX: ['name', 'names'],
  SRV: ['name', 'names'],
  TXT: ['string', 'strings'],
};

/** A value as compared: addresses in one normal form, names in lower case without the root dot, TXT as it is. */
function comparable(type: DnsRecordType, value: string): string {
  if (type === 'TXT') return value;
  if (type === 'A' || type === 'AAAA') {
    try {
      return ipaddr.parse(value).toNormalizedString();
    } catch {
      return value.toLowerCase();
    }
  }
  return value.toLowerCase().replace(/\.$/, '');
}

/** How a resolver error reads in a finding; its c-ares code is an enumerated word, safe to report. */
function failure(code: string, type: DnsRecordType, timeoutMs: number): Pick<Issue, 'severity' | 'title' | 'expected' | 'actual'> {
  switch (code) {
    case 'ENOTFOUND':
      return { severity: 1, title: 'DNS name does not exist', expected: 'the name to exist', actual: 'NXDOMAIN' };
    case 'ENODATA':
      return {
        severity: 2,
        title: `DNS name has no ${type} records`,
        expected: `${type} records`,
        actual: `the name exists, without ${type} records`,
      };
    case 'ETIMEOUT':
      return { severity: 1, title: 'DNS query timed out', expected: `an answer within ${timeoutMs} ms`, actual: 'no answer' };
    case 'ESERVFAIL':
      return { severity: 1, title: 'DNS server failed to answer', expected: 'an answer', actual: 'SERVFAIL' };
    case 'EREFUSED':
      return { severity: 1, title: 'DNS server refused the query', expected: 'an answer', actual: 'REFUSED' };
    case 'ECONNREFUSED':
      return { severity: 1, title: 'DNS server unreachable', expected: 'an answer', actual: 'the DNS server could not be reached' };
    default:
      return { severity: 1, title: 'DNS lookup failed', expected: 'an answer', actual: `resolver error ${code}` };
  }
}

const NEXT_STEPS_FAILED = [
  'Check the DNS records of the name and the health of the DNS servers the Runner uses (LOOKOUT_DNS_SERVERS)',
  'Compare with `dig <name> <type>` from a pod of the cluster',
];

export const dnsResolve: Check<DnsResolveParams> = {
  type: 'dns.resolve',
  params: DnsResolveParams,
  async run(params, ctx): Promise<CheckOutcome> {
    const name = params.name.toLowerCase();
    const type = params.recordType;
    const resource = { kind: 'Endpoint', name: `dns:${name}` };
    const started = performance.now();
    let answers: DnsAnswer[];
    try {
      // The policy decides before any query: a name no destination covers is refused (PolicyDenied).
      answers = await ctx.policy.resolveName(name, type, { timeoutMs: params.timeoutMs, signal: ctx.signal });
    } catch (err) {
      if (ctx.signal.aborted || isPolicyDenied(err)) throw err;
      const latencyMs = Math.round(performance.now() - started);
      const rawCode = (err as { code?: unknown } | null)?.code;
      const code = typeof rawCode === 'string' && /^E[A-Z]{2,24}$/.test(rawCode) ? rawCode : 'EUNKNOWN';
      const found = failure(code, type, params.timeoutMs);
      const issue: Issue = { ...found, resource, nextSteps: NEXT_STEPS_FAILED };
      return {
        status: 'issues',
        summary: `${resource.name}: ${found.title.toLowerCase()}`,
        score: scoreOf([issue]),
        issues: [issue],
        metrics: { 'dns.up': 0, 'dns.answers': 0, 'dns.latency_ms': latencyMs },
      };
    }
    const latencyMs = Math.round(performance.now() - started);
    const [one, noun] = NOUN[type];
    const issues: Issue[] = [];
    const metrics: Record<string, number> = { 'dns.up': 1, 'dns.answers': answers.length, 'dns.latency_ms': latencyMs };
    const ttls = answers.flatMap((a) => (a.ttl === undefined ? [] : [a.ttl]));
    if (ttls.length) metrics['dns.min_ttl_s'] = Math.min(...ttls);

    const expected = params.expect?.addresses;
    let matchedNote = '';
    if (expected) {
      const got = new Set(answers.map((a) => comparable(type, a.value)));
      const want = new Set(expected.map((v) => comparable(type, v)));
      const matched = [...want].filter((v) => got.has(v)).length;
      const others = [...got].filter((v) => !want.has(v)).length;
      metrics['dns.expected_matched'] = matched;
      metrics['dns.expected_missing'] = want.size - matched;
      metrics['dns.unexpected_answers'] = others;
      matchedNote = `, ${matched} of ${want.size} expected ${noun}`;
      if (matched < want.size || others > 0) {
        issues.push({
          severity: 2,
          title: `DNS ${type} answer differs from the expected ${noun}`,
          resource,
          expected: `exactly the ${want.size} expected ${noun}`,
          actual: `${matched} of ${want.size} expected ${noun}${others ? `, and ${others} other ${others === 1 ? one : noun}` : ''}`,
          nextSteps: [
            'Check the records of the name at its authoritative DNS servers, and whether a change is still propagating (TTL)',
            'Check the Service or load balancer the name should point at',
          ],
          // The answer itself is customer network data: a raw excerpt, kept on the Runner unless its policy allows raw data.
          details: `answer: ${answers.map((a) => a.value).join(', ')}`.slice(0, 2000),
        });
      }
    }
    const minAnswers = params.expect?.minAnswers;
    if (minAnswers !== undefined && answers.length < minAnswers) {
      issues.push({
        severity: 2,
        title: `Too few DNS ${type} records`,
        resource,
        expected: `at least ${minAnswers} records`,
        actual: `${answers.length} records`,
        nextSteps: ['Check that every backend the name should list is registered (Endpoints, load balancer members, records)'],
      });
    }
    return {
      status: issues.length ? 'issues' : 'ok',
      summary: issues.length
        ? `${resource.name}: ${issues.map((i) => i.title.toLowerCase()).join(', ')}`
        : `${resource.name}: ${answers.length} ${type} records in ${latencyMs} ms${matchedNote}`,
      score: scoreOf(issues),
      issues,
      metrics,
    };
  },
};
