"""Sign-in and sign-out: `/auth/*` routes, back-channel logout, login transactions."""
