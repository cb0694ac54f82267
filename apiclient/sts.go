package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// STS, the Security Token Service (API version 2015-04-01). cdnpurge asks
// it one thing: which account the credentials belong to.
const (
	stsVersion              = "2015-04-01"
	actionGetCallerIdentity = "GetCallerIdentity"
)

// CallerIdentity is the answer of STS GetCallerIdentity.
type CallerIdentity struct {
	AccountID    string `json:"AccountId"`
	Arn          string `json:"Arn"`
	IdentityType string `json:"IdentityType"`
	PrincipalID  string `json:"PrincipalId"`
	RequestID    string `json:"RequestId"`
}

// GetCallerIdentity asks STS which account signs the client's calls. The
// AccountId it returns stays the same across key rotations and STS
// sessions, unlike the AccessKeyId.
func (c *Client) GetCallerIdentity(ctx context.Context) (CallerIdentity, error) {
	var out CallerIdentity
	if err := c.call(ctx, c.sts, http.MethodPost, actionGetCallerIdentity, url.Values{}, &out); err != nil {
		return CallerIdentity{}, err
	}
	if out.AccountID == "" {
		return CallerIdentity{}, fmt.Errorf("%s at %s: the answer has no AccountId (RequestId %s)", actionGetCallerIdentity, c.sts.endpoint, out.RequestID)
	}
	return out, nil
}

// STSEndpoint returns the STS endpoint the client calls.
func (c *Client) STSEndpoint() string { return c.sts.endpoint }
