package retry

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// TooLargeError is a body longer than the reader allowed. It is never
// retried: the same server gives the same answer.
type TooLargeError struct {
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("answer larger than %d bytes", e.Limit)
}

// Get reads the whole body of a GET of url (sent with accept as its Accept
// header when not empty), repeating what is transient as Do does. Anything
// but 200 is a *StatusError. A body longer than limit is a *TooLargeError
// rather than a cut one, which a parser would report as malformed.
func Get(ctx context.Context, client *http.Client, p Policy, url, accept string, limit int64) ([]byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	var data []byte
	err := Do(ctx, p, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			// Read a little so the connection can serve the next try.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			return &StatusError{Code: resp.StatusCode, Status: resp.Status}
		}
		if resp.ContentLength > limit {
			return &TooLargeError{Limit: limit}
		}
		data, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return err
		}
		if int64(len(data)) > limit {
			return &TooLargeError{Limit: limit}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}
