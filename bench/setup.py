#!/usr/bin/env python3
"""Prepares a running saaskit for the benchmark: N businesses signed up and put on a plan
whose limit is not hit, their SDK keys in KEYS and their owners in LOGINS.

usage: setup.py URL STAFF_EMAIL STAFF_PASSWORD N KEYS LOGINS"""
import json
import sys
import urllib.request

url, staff_email, staff_password, n, keys_path, logins_path = sys.argv[1:7]
n = int(n)
PASSWORD = "bench password 1"


def gql(query, variables=None, token=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(url + "/graphql", data=body, method="POST")
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as response:
        answer = json.load(response)
    if answer.get("errors"):
        sys.exit(f"setup failed: {answer['errors']}")
    return answer["data"]


login = "mutation($i: LoginInput!) { login(input: $i) { token } }"
staff = gql(login, {"i": {"email": staff_email, "password": staff_password}})["login"]["token"]
plan = gql(
    """mutation($i: CreatePlanInput!) { createPlan(input: $i) { id } }""",
    {"i": {"code": "bench", "name": "Bench", "priceCents": 0, "currency": "USD",
           "period": {"count": 1, "unit": "MONTH"}, "isPublic": False,
           "limits": [{"metric": "recordings", "max": 2000000000, "resetsEachPeriod": True}]}},
    staff,
)["createPlan"]["id"]

keys, logins = [], []
for i in range(n):
    email = f"bench{i}@example.com"
    signup = gql(
        """mutation($i: SignupInput!) { signup(input: $i) { viewer { business { id apiKey } } } }""",
        {"i": {"email": email, "password": PASSWORD, "name": "Bench", "businessName": f"Bench {i}"}},
    )["signup"]["viewer"]["business"]
    gql("mutation($b: ID!, $p: ID!) { grantPlan(businessId: $b, planId: $p) { id } }",
        {"b": signup["id"], "p": plan}, staff)
    keys.append(signup["apiKey"])
    logins.append(f"{email} {PASSWORD}")

with open(keys_path, "w") as f:
    f.write("\n".join(keys) + "\n")
with open(logins_path, "w") as f:
    f.write("\n".join(logins) + "\n")
print(f"setup: {n} businesses on the bench plan")
