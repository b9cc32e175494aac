// Starts GraphiQL on saaskit's /graphiql. A file of its own, not an inline script, so that the
// page's Content-Security-Policy allows scripts from saaskit itself only.
(function () {
  'use strict';

  var defaultQuery = [
    '# saaskit\'s GraphiQL. Staff: log in, then paste',
    '#   {"Authorization": "Bearer <token>"}',
    '# into the Headers tab below, and re-fetch the',
    '# schema (the ↻ button on the left) to read the docs.',
    '# In production the schema and every query need a',
    '# staff token.',
    '',
    'mutation StaffLogin($email: String!, $password: String!) {',
    '  login(input: { email: $email, password: $password }) {',
    '    token',
    '    expiresAt',
    '  }',
    '}',
    ''
  ].join('\n');

  var fetcher = GraphiQL.createFetcher({
    url: new URL('/graphql', window.location.href).toString()
  });

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultVariables: '{\n  "email": "",\n  "password": ""\n}',
      isHeadersEditorEnabled: true,
      defaultEditorToolsVisibility: 'headers',
      // Tokens stay in the page's memory, not in localStorage.
      shouldPersistHeaders: false
    })
  );
})();
