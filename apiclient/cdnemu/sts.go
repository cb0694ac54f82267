package cdnemu

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The STS actions the emulator serves (STS API version 2015-04-01), so that
// credential chains that assume a role, with an AccessKey or an OIDC token,
// can be tested end to end against it. STS shares the emulator's address:
// point the STS endpoint of a client at the emulator's.
const (
	STSVersion               = "2015-04-01"
	actionGetCallerIdentity  = "GetCallerIdentity"
	actionAssumeRole         = "AssumeRole"
	actionAssumeRoleWithOIDC = "AssumeRoleWithOIDC"
)

// unsignedActions are served without an AccessKey: AssumeRoleWithOIDC
// authenticates with the OIDC token it carries.
var unsignedActions = map[string]bool{actionAssumeRoleWithOIDC: true}

func isSTSVersion(v string) bool { return v == STSVersion }

// roleARN is the shape of a RAM role's ARN.
var roleARN = regexp.MustCompile(`^acs:ram::(\d+):role/([A-Za-z0-9.@_-]{1,64})$`)

// oidcProviderARN is the shape of an OIDC identity provider's ARN.
var oidcProviderARN = regexp.MustCompile(`^acs:ram::\d+:oidc-provider/[A-Za-z0-9._-]{1,128}$`)

func handleGetCallerIdentity(e *Emulator, req *request, _ time.Time) *answer {
	id := req.params.Get("AccessKeyId")
	key, _ := e.keys.lookup(id)
	body := map[string]any{"AccountId": e.opts.AccountID, "UserId": e.opts.AccountID, "PrincipalId": e.opts.AccountID,
		"Arn": "acs:ram::" + e.opts.AccountID + ":root", "IdentityType": "Account"}
	if key.temporary() {
		body["Arn"] = key.arn
		body["IdentityType"] = "AssumedRoleUser"
		body["PrincipalId"] = "3" + id[len(id)-min(len(id), 16):]
	}
	return ok(body)
}

func handleAssumeRole(e *Emulator, req *request, now time.Time) *answer {
	return e.assumeRole(req, now, "")
}

func handleAssumeRoleWithOIDC(e *Emulator, req *request, now time.Time) *answer {
	p := req.params
	provider := trimmed(p, "OIDCProviderArn")
	if provider == "" {
		return missing("OIDCProviderArn")
	}
	if !oidcProviderARN.MatchString(provider) {
		return invalid("OIDCProviderArn", provider)
	}
	token := trimmed(p, "OIDCToken")
	if token == "" {
		return missing("OIDCToken")
	}
	if e.opts.OIDCToken != "" && token != e.opts.OIDCToken {
		return fail("AuthenticationFail.OIDCToken.Invalid", "The OIDC token is not valid for "+provider+".")
	}
	return e.assumeRole(req, now, provider)
}

// assumeRole mints a temporary key for RoleArn, valid for DurationSeconds
// (900 s to 12 h, default 1 h), capped by Options.STSTokenTTL.
func (e *Emulator) assumeRole(req *request, now time.Time, oidcProvider string) *answer {
	p := req.params
	role := trimmed(p, "RoleArn")
	if role == "" {
		return missing("RoleArn")
	}
	m := roleARN.FindStringSubmatch(role)
	if m == nil {
		return invalid("RoleArn", role)
	}
	session := trimmed(p, "RoleSessionName")
	if session == "" {
		return missing("RoleSessionName")
	}
	duration := time.Hour
	if raw := trimmed(p, "DurationSeconds"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 900 || n > 43200 {
			return invalid("DurationSeconds", raw)
		}
		duration = time.Duration(n) * time.Second
	}
	if ttl := e.opts.STSTokenTTL; ttl > 0 && ttl < duration {
		duration = ttl
	}
	expires := now.Add(duration).UTC().Truncate(time.Second)
	id := "STS." + strings.ToUpper(randomHex(12))
	secret := randomHex(20)
	token := "CAIS" + randomHex(48)
	arn := "acs:ram::" + m[1] + ":assumed-role/" + strings.ToLower(m[2]) + "/" + session
	e.keys.put(id, accessKey{secret: secret, token: token, expires: expires, arn: arn})
	e.stsIssued++
	user := map[string]any{"Arn": arn, "AssumedRoleId": "3" + randomHex(8) + ":" + session}
	body := map[string]any{
		"AssumedRoleUser": user,
		"Credentials": map[string]any{
			"AccessKeyId": id, "AccessKeySecret": secret, "SecurityToken": token,
			"Expiration": expires.Format("2006-01-02T15:04:05Z"),
		},
	}
	if oidcProvider != "" {
		body["OIDCTokenInfo"] = map[string]any{"Issuer": oidcProvider}
	}
	return ok(body)
}

// STSIssued returns how many temporary keys AssumeRole and
// AssumeRoleWithOIDC have minted.
func (e *Emulator) STSIssued() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stsIssued
}
