package cdnemu

import (
	"fmt"
	"net/http"
)

// answer is what the emulator sends back: a success body (without its
// RequestId, added when written) or an error code.
type answer struct {
	status int
	code   string
	msg    string
	body   map[string]any
}

func (a *answer) failed() bool { return a.code != "" }

// codeInfo is the HTTP status and message of an error code.
type codeInfo struct {
	status int
	msg    string
}

// codes are the error answers the emulator gives, with the HTTP statuses
// and messages of the error codes in the Alibaba Cloud CDN API reference.
var codes = map[string]codeInfo{
	"InternalError":                               {500, "The request processing has failed due to some unknown error, exception or failure."},
	"ServiceUnAvailable":                          {503, "The request has failed due to a temporary failure of the server."},
	"Throttling":                                  {400, "Request was denied due to request throttling."},
	"Throttling.User":                             {400, "Request was denied due to user flow control."},
	"Throttling.Api":                              {503, "Request was denied due to api flow control."},
	"MissingParameter":                            {400, "The input parameter that is mandatory for processing this request is not supplied."},
	"InvalidParameter":                            {400, "The specified parameter is not valid."},
	"UnsupportedOperation":                        {400, "The specified action is not supported."},
	"InvalidVersion":                              {400, "Specified parameter Version is not valid."},
	"InvalidAccessKeyId.NotFound":                 {404, "Specified access key is not found."},
	"SignatureDoesNotMatch":                       {400, "Specified signature is not matched with our calculation."},
	"SignatureNonceUsed":                          {400, "Specified signature nonce was used already."},
	"InvalidTimeStamp.Expired":                    {400, "Specified time stamp or date value is expired."},
	"InvalidTimeStamp.Format":                     {400, "Specified time stamp or date value is not well formatted."},
	"IncompleteSignature":                         {400, "The request signature does not conform to Aliyun standards."},
	"UnsupportedHTTPMethod":                       {400, "The HTTP method of the request is not supported; use GET or POST."},
	"InvalidDomain.NotFound":                      {404, "The domain provided does not belong to you."},
	"InvalidDomain.Offline":                       {404, "The domain provided is offline."},
	"ServiceBusy":                                 {403, "The specified domain is being configured, please try again later."},
	"SingleRequest.OverLimit":                     {400, "A maximum of 1000 URLs, 100 directories, 1 regular expression or URLs of 10 domains can be submitted in one request."},
	"InvalidObjectPath.Malformed":                 {400, "Specified parameter ObjectPath is not valid."},
	"InvalidObjectPath.Size.Malformed":            {400, "The length of a path in ObjectPath exceeds 1024 characters."},
	"InvalidObjectType.Malformed":                 {400, "Specified parameter ObjectType is not valid."},
	"QuotaExceeded.Refresh":                       {400, "Your refresh or push quota of today is not enough for this request."},
	"QuotaPerMinuteExceeded.Refresh":              {400, "The URLs refreshed for a domain this minute exceed the limit."},
	"InvalidSecurityToken.Expired":                {400, "Specified SecurityToken is expired."},
	"InvalidSecurityToken.MismatchWithAccessKey":  {400, "Specified SecurityToken mismatch with the AccessKey."},
	"AuthenticationFail.OIDCToken.Invalid":        {400, "The OIDC token is invalid."},
	"InvalidStartTime.Malformed":                  {400, "Specified parameter StartTime is not valid."},
	"InvalidEndTime.Malformed":                    {400, "Specified parameter EndTime is not valid."},
	"InvalidInternetChargeType.ValueNotSupported": {400, "The specified value of parameter InternetChargeType is not valid."},
	"CdnService.HasOpened":                        {400, "Your cdn service has opened."},
	"OperationDenied":                             {403, "Your account does not open CDN service yet."},
	"InsufficientBalance":                         {400, "Your account does not have enough balance."},
	"DcdnIpaServiceNotFound":                      {403, "The DCDN IPA service has not been activated."},
	"PreloadQueueFull":                            {403, "The preload queue of your account is full."},
	// ESA codes the ESA API reference does not list; the emulator's choice (esa.go).
	"InvalidSite.NotFound": {404, "The site does not exist or does not belong to you."},
	"QuotaExceeded.Purge":  {400, "Your purge quota of today is not enough for this request."},
}

// fail builds an error answer; a non-empty detail replaces the stock message.
func fail(code string, detail ...any) *answer {
	c, ok := codes[code]
	if !ok {
		c = codeInfo{http.StatusBadRequest, code}
	}
	msg := c.msg
	if len(detail) > 0 {
		msg = fmt.Sprint(detail...)
	}
	return &answer{status: c.status, code: code, msg: msg}
}

func missing(name string) *answer {
	return fail("MissingParameter", "The input parameter \""+name+"\" that is mandatory for processing this request is not supplied.")
}

func invalid(name, value string) *answer {
	return fail("InvalidParameter", fmt.Sprintf("The specified parameter %q is not valid: %q.", name, value))
}

func ok(body map[string]any) *answer {
	if body == nil {
		body = map[string]any{}
	}
	return &answer{status: http.StatusOK, body: body}
}
