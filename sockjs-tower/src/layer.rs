//! [`SockJsLayer`] and its middleware: the endpoint's URLs go to the
//! [`SockJsService`], every other request to the wrapped service.

use std::task::{Context, Poll};

use futures_util::future::{Either, MapOk};
use futures_util::TryFutureExt;
use http::{Request, Response};

use crate::{Body, ResponseFuture, SockJsService};

/// Serves an endpoint in front of another service ([`SockJsService::layer`]).
#[derive(Clone, Debug)]
pub struct SockJsLayer {
    pub(crate) sockjs: SockJsService,
}

impl<S> tower_layer::Layer<S> for SockJsLayer {
    type Service = SockJsMiddleware<S>;

    fn layer(&self, inner: S) -> SockJsMiddleware<S> {
        SockJsMiddleware { sockjs: self.sockjs.clone(), inner }
    }
}

/// The endpoint's URLs go to SockJS, every other request to `inner`.
#[derive(Clone, Debug)]
pub struct SockJsMiddleware<S> {
    sockjs: SockJsService,
    inner: S,
}

/// A response body of [`SockJsMiddleware`]: SockJS's or the inner service's.
pub type EitherBody<B> = http_body_util::Either<Body, B>;

type IntoEither<B> = fn(Response<B>) -> Response<EitherBody<B>>;

impl<S, B, ResBody> tower_service::Service<Request<B>> for SockJsMiddleware<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResBody>>,
    S::Error: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    ResBody: Send + 'static,
{
    type Response = Response<EitherBody<ResBody>>;
    type Error = S::Error;
    type Future = Either<ResponseFuture<EitherBody<ResBody>, S::Error>, MapOk<S::Future, IntoEither<ResBody>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.sockjs.endpoint.matches(request.uri().path()) {
            let serve = self.sockjs.clone().serve(request);
            Either::Left(Box::pin(async move { Ok(serve.await.map(http_body_util::Either::Left)) }))
        } else {
            Either::Right(self.inner.call(request).map_ok(|r| r.map(http_body_util::Either::Right)))
        }
    }
}
