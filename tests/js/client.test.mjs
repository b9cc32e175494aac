// A standard JS client (graphql-request) runs the dashboard's flow with the example operations:
// sign up, read the business and its usage, record usage with the SDK key, and see that key
// refused on everything else.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ClientError, GraphQLClient } from 'graphql-request';

import { STAFF, operation, startSaaskit } from './server.mjs';

let server;
before(async () => {
  server = await startSaaskit();
});
after(async () => {
  await server?.stop();
});

const client = (token) =>
  new GraphQLClient(server.graphqlUrl, token ? { headers: { authorization: `Bearer ${token}` } } : {});

/** The `extensions.code` of a refused request's first error. */
async function refusal(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ClientError, String(err));
    return err.response.errors[0].extensions.code;
  }
  assert.fail('the request was not refused');
}

test('the dashboard flow, then the SDK key, then staff support', async () => {
  const anonymous = client();
  const { plans } = await anonymous.request(operation('Plans'));
  assert.ok(plans.some((plan) => plan.code === 'free'));

  const { signup } = await anonymous.request(operation('SignUp'), {
    input: { email: 'ada@example.com', password: 'correct horse battery', name: 'Ada', businessName: 'Acme' },
  });
  assert.equal(signup.viewer.role, 'OWNER');
  const owner = client(signup.token);

  const { me } = await owner.request(operation('Me'));
  assert.equal(me.user.email, 'ada@example.com');
  assert.equal(me.business.name, 'Acme');
  assert.ok(me.rights.includes('billing:read'));

  const { business } = await owner.request(operation('SubscriptionAndUsage'));
  assert.equal(business.name, 'Acme');
  assert.equal(business.subscription.status, 'ACTIVE');
  assert.equal(business.subscription.plan.code, 'free');
  const recordings = () => business.usage.find((u) => u.metric === 'recordings');
  assert.equal(recordings().used, 0);

  const members = await owner.request(operation('Members'), { first: 10 });
  assert.deepEqual(members.business.members.edges.map((e) => e.node.user.email), ['ada@example.com']);

  const { business: keyed } = await owner.request(operation('SdkKey'));
  const sdk = client(keyed.apiKey);
  const input = { metric: 'recordings', quantity: 3, idempotencyKey: 'evt_1' };
  const first = await sdk.request(operation('RecordUsage'), { input });
  assert.deepEqual(first.recordUsage, { metric: 'recordings', used: 3, limit: 1000, remaining: 997, duplicate: false });
  const again = await sdk.request(operation('RecordUsage'), { input });
  assert.equal(again.recordUsage.duplicate, true);
  assert.equal(again.recordUsage.used, 3);

  const after = await owner.request(operation('SubscriptionAndUsage'));
  assert.equal(after.business.usage.find((u) => u.metric === 'recordings').used, 3);

  assert.equal(await refusal(sdk.request('query BusinessName { business { name } }')), 'FORBIDDEN');
  assert.equal(await refusal(sdk.request(operation('SubscriptionAndUsage'))), 'FORBIDDEN');
  assert.equal(await refusal(owner.request(operation('RecordUsage'), { input })), 'FORBIDDEN');

  const { login } = await anonymous.request(operation('LogIn'), { input: STAFF });
  assert.equal(login.viewer.isStaff, true);
  const staff = client(login.token);
  const found = await staff.request(operation('StaffSearchBusinesses'), { search: 'ada@example.com' });
  const acme = found.businesses.edges.map((e) => e.node);
  assert.deepEqual(acme.map((b) => b.name), ['Acme']);
  const { allPlans } = await staff.request(operation('StaffAllPlans'));
  const unlimited = allPlans.find((plan) => plan.code === 'unlimited');
  const granted = await staff.request(operation('StaffGrantPlan'), { businessId: acme[0].id, planId: unlimited.id });
  assert.equal(granted.grantPlan.plan.code, 'unlimited');
  const { impersonate } = await staff.request(operation('StaffImpersonate'), {
    businessId: acme[0].id,
    reason: 'js test: the usage page',
  });
  assert.equal(impersonate.viewer.impersonator.email, STAFF.email);
  const seen = await client(impersonate.token).request(operation('SubscriptionAndUsage'));
  assert.equal(seen.business.subscription.plan.code, 'unlimited');
  assert.equal(await refusal(owner.request(operation('StaffSearchBusinesses'))), 'FORBIDDEN');
});
