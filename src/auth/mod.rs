//! Technical administrators: authentication (Basic, Bearer tokens from `/oauth2/token`),
//! permissions, client-id lock.
