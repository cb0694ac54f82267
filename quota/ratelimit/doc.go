// Package ratelimit keeps the account's calls under the API's rate
// limits, which are per account, not per process: Limiter paces each
// action under its calls per second (apiclient's Limiter) and DomainPacer
// keeps each domain's refreshed URLs under the limit per minute
// (apiclient's DomainPacer). With Redis the budgets are shared by every
// replica of the account, timed by Redis's clock; while Redis cannot be
// reached, or without it, each process paces itself.
//
// It lives beside the daily quota (package quota) because it keeps its
// state in the same Redis, under the same key prefix and {account} hash
// tag, but it is apart from it: the quota counts what a day allows, this
// package spaces calls in time. apiclient only declares the two hooks; it
// must not know Redis. Only the wiring (cmd/cdnpurge) and tests import
// this package, and quota never does.
package ratelimit
